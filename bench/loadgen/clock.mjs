// CLOCK_MONOTONIC in ms: one clock for every process on the machine, so a sentAt stamped by one
// load-generator process is read by another
export function now() {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}
