// The pdf-lib producer of tests/producers/make.py: node pdflib_letter.mjs LETTER.json OUT.pdf
// LETTER.json is Letter.to_json(): every length in mm from the page's top-left, font sizes in pt.
import { readFileSync, writeFileSync } from "node:fs";
import { PDFDocument, StandardFonts, grayscale } from "pdf-lib";

const [specPath, outPath] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specPath, "utf8"));
const PT = 72 / 25.4;
const A4 = [210 * PT, 297 * PT];

const doc = await PDFDocument.create();
doc.setTitle("Brief");
doc.setAuthor("Muster AG");
const regular = await doc.embedFont(StandardFonts.Helvetica);
const bold = await doc.embedFont(StandardFonts.HelveticaBold);

// Greedy line breaking on the font's own widths, as a pdf-lib user writes it.
function wrap(text, font, size, width) {
  const lines = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    const candidate = line ? `${line} ${word}` : word;
    if (line && font.widthOfTextAtSize(candidate, size) > width) {
      lines.push(line);
      line = word;
    } else {
      line = candidate;
    }
  }
  if (line) lines.push(line);
  return lines;
}

for (let index = 0; index < spec.pages; index++) {
  const page = doc.addPage(A4);
  const y = (mm) => A4[1] - mm * PT;
  for (const t of spec.fixed[index]) {
    page.drawText(t.text, { x: t.x * PT, y: y(t.baseline), size: t.size, font: t.bold ? bold : regular });
  }
  if (index === 0) {
    const [x, top, w, h] = spec.logo;
    page.drawRectangle({ x: x * PT, y: y(top + h), width: w * PT, height: h * PT, color: grayscale(0.69) });
    const width = bold.widthOfTextAtSize(spec.logoText, 16);
    page.drawText(spec.logoText, { x: (x + w / 2) * PT - width / 2, y: y(top + h / 2 + 2), size: 16, font: bold });
    for (const fold of spec.foldMarks) {
      page.drawLine({
        start: { x: spec.foldX[0] * PT, y: y(fold) },
        end: { x: spec.foldX[1] * PT, y: y(fold) },
        thickness: 0.57,
      });
    }
  }
  let baseline = spec.bodyTop[index];
  for (const paragraph of spec.paragraphs[index]) {
    for (const line of wrap(paragraph, regular, spec.bodyPt, spec.bodyWidth * PT)) {
      page.drawText(line, { x: spec.bodyX * PT, y: y(baseline), size: spec.bodyPt, font: regular });
      baseline += spec.leading;
    }
    baseline += spec.leading;
  }
  page.drawText(spec.footers[index], { x: spec.bodyX * PT, y: y(spec.footerBaseline), size: 7, font: regular });
}

writeFileSync(outPath, await doc.save());
