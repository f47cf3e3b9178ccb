// SPDX-License-Identifier: MIT
// node-json: JSON stringify/parse, Buffer and base64 work with a 2500-5000 record working set;
// argv[2] records (tests/bench/run.py's node-json workload, tests/real/test_node.py).
const n = +(process.argv[2] || 100000);
let total = 0;
const recs = [];
for (let i = 0; i < n; i++) {
  const o = { id: i, name: 'item-' + i, tags: ['a' + (i % 7), 'b' + (i % 13)], v: i * 1.5 };
  const s = JSON.stringify(o);
  const b = Buffer.from(s);
  const h = b.toString('base64');
  const back = JSON.parse(Buffer.from(h, 'base64').toString());
  total += back.id + h.length;
  recs.push(back);
  if (recs.length > 5000) recs.splice(0, 2500);
}
const big = JSON.stringify(recs);
total += JSON.parse(big).length;
console.log('node-json n=' + n + ' checksum=' + total);
