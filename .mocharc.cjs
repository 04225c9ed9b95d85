// mocha's settings for `npm test`. Spec files run in parallel worker processes: the suite is mostly CPU (decoders,
// captures, in-process CLI calls), and on a 2-core machine two workers take it from about 80 s to under 50 s
// (mocha's own default, one worker per core but one, would run it serially there). Specs share nothing but the
// read-only captures: each makes its own temporary stores, ports and processes.
const { availableParallelism } = require('node:os');

module.exports = {
  spec: ['test/**/*.spec.ts'],
  'node-option': ['import=tsx'],
  timeout: 60000,
  reporter: 'spec',
  parallel: true,
  jobs: Math.max(2, availableParallelism() - 1),
};
