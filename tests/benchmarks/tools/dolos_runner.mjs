// Run Dolos (the library behind the Dolos CLI) on benchmark cases, file level.
//   node dolos_runner.mjs CASES.json OUT.json
// Dolos indexes every file of a case (a and b together) with its default options and reports a
// pair per two files; we keep the a-b pairs and score each as the share of the suspect (b)
// file's tokens that Dolos covers with shared fingerprints, beside its symmetric similarity.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Dolos } from "@dodona/dolos-lib";

const [casesPath, outPath] = process.argv.slice(2);
const cases = JSON.parse(readFileSync(casesPath, "utf8"));
const results = {};
for (const c of cases) {
  const t0 = performance.now();
  const aFiles = c.a_files.map(f => path.join(c.a_root, f));
  const bFiles = c.b_files.map(f => path.join(c.b_root, f));
  const side = new Map();
  aFiles.forEach((p, i) => side.set(p, ["a", c.a_files[i]]));
  bFiles.forEach((p, i) => side.set(p, ["b", c.b_files[i]]));
  const scores = [];
  try {
    const dolos = new Dolos({ language: "python" });
    const report = await dolos.analyzePaths(aFiles.concat(bFiles));
    for (const pair of report.allPairs()) {
      const left = side.get(pair.leftFile.path);
      const right = side.get(pair.rightFile.path);
      if (!left || !right || left[0] === right[0]) continue;
      const bIsLeft = left[0] === "b";
      const covered = bIsLeft ? pair.leftCovered : pair.rightCovered;
      const total = bIsLeft ? pair.leftTotal : pair.rightTotal;
      scores.push({
        a: bIsLeft ? right[1] : left[1],
        b: bIsLeft ? left[1] : right[1],
        score: total > 0 ? covered / total : 0,
        similarity: pair.similarity,
      });
    }
  } catch (err) {
    scores.push({ error: String(err) });
  }
  results[c.id] = { seconds: (performance.now() - t0) / 1000, scores };
}
writeFileSync(outPath, JSON.stringify(results));
