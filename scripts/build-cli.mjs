// Builds the CLI that bin/devrec runs: one CommonJS bundle of the compiled sources (dist/src/cli/main.js and all it
// imports, commander included; addons and what is only required at run time stay in node_modules), then V8's code
// cache for it, made after running a few commands in this process so it holds the functions they compiled.
// Run by `npm run build` (and so by `prepare`, `npm test`, `npm run bench`) after tsc.
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { loadCli, bundle, cacheFile, cacheFileFor, OWN_CACHES } = require(path.join(root, 'bin/devrec'));

// commander requires node:child_process at load, for executable subcommands (`git-style` programs it spawns);
// devrec has none. Loading it brings net, dgram and the process wrappers: a few ms of every start-up. In the bundle
// commander gets a stand-in that loads the real module on first use, so nothing changes if it is ever used.
const lazyChildProcess = {
  name: 'lazy-child-process-for-commander',
  setup(b) {
    b.onResolve({ filter: /^node:child_process$/ }, (args) =>
      /[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'lazy-builtin' } : undefined);
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, () => ({
      contents: "let real; module.exports = new Proxy({}, { get: (_, key) => (real ??= require('child_process'))[key] });",
      loader: 'js',
    }));
  },
};

if (process.argv[2] !== '--cache') await build({
  plugins: [lazyChildProcess],
  entryPoints: [path.join(root, 'dist/src/cli/main.js')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // native addons (and the dev-only lmdb) are loaded from node_modules as they are
  external: ['@kurrent/*', 'fs-native-extensions', 'lmdb'],
  // the sources are ES modules: import.meta.url is the bundle's own URL
  define: { 'import.meta.url': '__devrecBundleUrl' },
  banner: { js: "const __devrecBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: false,
  minify: true, // less to read and deserialize at start (about 15 ms here); keepNames keeps class and function names
  keepNames: true,
  charset: 'ascii', // bin/devrec reads it as latin1
  logLevel: 'warning',
});

// The code cache: compile without one, run commands a user starts with, keep what V8 compiled.
// The code caches: compile without one, run command lines a user starts with, keep what V8 compiled. One cache
// per command that has its own (bin/devrec OWN_CACHES), each made in a fresh process that ran only that command
// (V8 shares compiled functions between compiles of one source in a process), and the general one from all of them.
const runsOf = (store) => {
  const trace = path.join(root, 'streams/qemu/pc-modern-net-blk/trace.log.gz');
  const device = 'virtio-net-pci@00:02.0';
  const own = {
    program: [['--version'], ['--help']],
    devices: [['devices', '--store', store], ['devices', '--store', store, '--json']],
    state: [['state', device, '--store', store], ['state', device, '--store', store, '--json']],
    log: [['log', device, '--store', store]],
  };
  const general = [
    ...own.program, ['import', 'qemu-trace', trace, '--store', store], ...own.devices, ...own.state, ...own.log,
    ['inspect', path.join(root, 'streams/qemu/pc-modern-net-blk/devstate.bin.gz')],
  ];
  return { ...own, general };
};

/** Runs the command lines in this process's compile of the bundle and writes the code cache it leaves to `file`. */
async function makeCache(file, runs) {
  rmSync(file, { force: true });
  const { cli, script } = loadCli({ useCache: false });
  const out = process.stdout.write;
  const err = process.stderr.write;
  for (const args of runs) {
    process.stdout.write = process.stderr.write = () => true;
    let code;
    try {
      code = await cli.main(['node', 'devrec', ...args]);
    } finally {
      process.stdout.write = out;
      process.stderr.write = err;
    }
    if (code !== 0) throw new Error(`build-cli: \`devrec ${args.join(' ')}\` exited ${code} while making ${file}`);
  }
  writeFileSync(file, script.createCachedData());
}

if (process.argv[2] === '--cache') {
  // a child: node scripts/build-cli.mjs --cache NAME STORE
  const [, , , name, store] = process.argv;
  const file = name === 'general' ? cacheFile : cacheFileFor([name === 'program' ? '--version' : name]);
  await makeCache(file, runsOf(store)[name]);
} else {
  const work = mkdtempSync(path.join(tmpdir(), 'devrec-build-'));
  const store = `file:${path.join(work, 'store')}`;
  try {
    // the general cache first: its import run makes the store the others read
    for (const name of ['general', ...OWN_CACHES]) {
      if (!runsOf(store)[name]) throw new Error(`build-cli: no command lines to make the ${name} cache from`);
      execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--cache', name, store], { stdio: 'inherit' });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
