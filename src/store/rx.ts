// rxjs on first use: loading it costs more than the rest of a `devrec devices` run, and only subscriptions (tail,
// endpoints, the Recorder) need it. rxjs ships CommonJS for Node, the same module an `import 'rxjs'` loads, so
// Observables made here and there are one class.
import { createRequire } from 'node:module';

let loaded: typeof import('rxjs') | undefined;

export function rx(): typeof import('rxjs') {
  return (loaded ??= createRequire(import.meta.url)('rxjs') as typeof import('rxjs'));
}
