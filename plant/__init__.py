"""plant — the controller of a print-and-mail production plant.

The flow of a letter, and where each step lives::

    submit ─► intake ─► preflight ─► route ──consent──► digital outbox ───────────────────────────► receipts
                                      │
                                      └─no consent─► compose ─► plan ─► impose+mark ─► spool ─► print
                                                                  ─► insert ─► reconcile ─► dispatch ─►
                                                                  receipts

- **intake** (:mod:`plant.intake.submission`): a folder or zip is read, its letters stored content-addressed
  (:mod:`plant.storage`) and recorded in the ledger before anything else happens; XML letters are composed
  (:mod:`plant.intake.compose`).
- **preflight** (:mod:`plant.stages.preflight`, checks in :mod:`plant.intake.pdfcheck`, sandboxed by
  :mod:`plant.intake.sandbox`): a bad letter is REJECTED with a code, a reason and an overlay.
- **route** (:mod:`plant.stages.route`): the consent registry (:mod:`plant.intake.consent`) decides digital or
  print; digital letters go to the outbox (:mod:`plant.intake.digital`), print letters get their piece — a
  tracking id, sheets and mass (:mod:`plant.postage.pieces`).
- **plan** (:mod:`plant.stages.plan`): the scheduler (:mod:`plant.scheduling`, pure functions) forms print
  jobs and puts them on presses and inserters in the plan (:mod:`plant.fleet.service`).
- **impose+mark** (:mod:`plant.stages.impose`): the :mod:`imposition` library places pages on sheets with the
  control code, the tracking barcode and the signed postage mark (:mod:`plant.postage.marks`).
- **spool/print** (:mod:`plant.stages.spool`): the job goes to its press through a :mod:`printers` driver and
  is followed to the end; re-planning moves work off a press that left the plan (:mod:`plant.stages.replan`).
- **insert/reconcile** (:mod:`plant.stages.insert`): the run goes to an :mod:`inserters` driver (after the
  cutter,
  :mod:`plant.fleet.cutting`); every piece is accounted for once: inserted, spoiled and reprinted, or
  UNACCOUNTED.
- **dispatch** (:mod:`plant.stages.dispatch`) closes pieces into handover manifests; **receipts**
  (:mod:`plant.stages.receipts`) tell each sender every letter's status.

Beside the flow: the lifecycle and its pure transition function (:mod:`plant.model`), the one error tree
(:mod:`plant.errors`), the settings (:mod:`plant.config`), the ledger — the truth — and its operations
(:mod:`plant.ledger`), the processes that run the stages (:mod:`plant.runtime`), the operator's actions
(:mod:`plant.operator`), the QA station (:mod:`plant.qa`), the staff pages (:mod:`plant.web`), the command
line (:mod:`plant.cli`) and an in-process plant for tests (:mod:`plant.testing`). docs/architecture.md draws
the house and the rules of its layers.
"""
