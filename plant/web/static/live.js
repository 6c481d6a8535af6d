// Keeps an open page current: every data-refresh-s seconds it fetches the page again and swaps in the parts
// marked data-live (by id). The server renders both the first load and every refresh, escaping all ledger text;
// nothing here builds markup from data. When the plant does not answer, the last data stays, marked stale.
"use strict";
(function () {
  const seconds = Number(document.body.dataset.refreshS);
  if (!(seconds > 0)) return;
  const stale = document.getElementById("stale");

  async function refresh() {
    try {
      const response = await fetch(window.location.href, {cache: "no-store", headers: {Accept: "text/html"}});
      if (!response.ok) throw new Error("HTTP " + response.status);
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const part of document.querySelectorAll("[data-live][id]")) {
        if (filling(part)) continue;  // an operator is typing in one of its forms: swap it in on a later refresh
        const next = fresh.getElementById(part.id);
        if (next) part.replaceWith(document.adoptNode(next));
      }
      stale.hidden = true;
      document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
    } catch (error) {
      stale.hidden = false;
    } finally {
      window.setTimeout(refresh, seconds * 1000);
    }
  }
  // Whether a form in this part has the focus or holds text the operator typed.
  function filling(part) {
    const active = document.activeElement;
    if (active && active.form && part.contains(active)) return true;
    return Array.from(part.querySelectorAll("form input:not([type=hidden])")).some((i) => i.value !== i.defaultValue);
  }
  window.setTimeout(refresh, seconds * 1000);
})();
