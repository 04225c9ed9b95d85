// Builds the CLI that bin/devrec runs: CommonJS bundles of the compiled sources (dist/src/cli/main.js and all it
// imports, commander included; addons and what is only required at run time stay in node_modules), one with every
// command and one with the short commands alone, then V8's code caches for them (bin/devrec says why and which).
// Run by `npm run build` (and so by `prepare`, `npm test`, `npm run bench`) after tsc.
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { loadCli, bundleFor, FULL, fullBundle, shortBundle, SHORT_COMMANDS } = require(path.join(root, 'bin/devrec'));

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

// The short bundle: main.js's other commands become modules that say they are elsewhere (bin/devrec never asks
// this bundle for them; if something did, the error says what happened instead of running the wrong thing).
const onlyShortCommands = {
  name: 'only-short-commands',
  setup(b) {
    b.onResolve({ filter: /^\.\/commands\/[a-z-]+\.js$/ }, (args) => {
      const name = /commands\/([a-z-]+)\.js$/.exec(args.path)[1];
      if (!/[\\/]cli[\\/]main\.js$/.test(args.importer) || SHORT_COMMANDS.includes(name)) return undefined;
      return { path: name, namespace: 'not-in-short-bundle' };
    });
    b.onLoad({ filter: /.*/, namespace: 'not-in-short-bundle' }, (args) => ({
      contents: `throw new Error('devrec: the command module ${args.path} is in dist/cli/devrec.cjs, not in the short bundle (bin/devrec picks the bundle)');`,
      loader: 'js',
    }));
  },
};

const common = {
  entryPoints: [path.join(root, 'dist/src/cli/main.js')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // native addons (and the dev-only lmdb) are loaded from node_modules as they are
  external: ['@kurrent/*', 'fs-native-extensions', 'lmdb'],
  // the sources are ES modules: import.meta.url is the bundle's own URL
  define: { 'import.meta.url': '__devrecBundleUrl' },
  // written as the function Node wraps a CommonJS module in, so bin/devrec compiles the file's text as it is (no
  // second copy of it made by Module.wrap)
  banner: { js: "(function (exports, require, module, __filename, __dirname) {'use strict'; const __devrecBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  footer: { js: '})' },
  sourcemap: false,
  minify: true, // less to read and deserialize at start (about 15 ms here); keepNames keeps class and function names
  keepNames: true,
  charset: 'ascii', // bin/devrec reads it as latin1
  logLevel: 'warning',
};
if (process.argv[2] !== '--cache') {
  await build({ ...common, outfile: fullBundle, plugins: [lazyChildProcess] });
  await build({ ...common, outfile: shortBundle, plugins: [lazyChildProcess, onlyShortCommands] });
}

// The code caches: compile without one, run command lines a user starts with, keep what V8 compiled. Each is made
// in a fresh process (V8 shares compiled functions between compiles of one source in a process): the full bundle's
// from every command below, and one per short command from that command alone.
const runsOf = (store) => {
  const trace = path.join(root, 'streams/qemu/pc-modern-net-blk/trace.log.gz');
  const device = 'virtio-net-pci@00:02.0';
  const short = {
    program: [['--version'], ['--help']],
    devices: [['devices', '--store', store], ['devices', '--store', store, '--json']],
    state: [['state', device, '--store', store], ['state', device, '--store', store, '--json']],
    log: [['log', device, '--store', store]],
  };
  const full = [
    ...short.program, ['import', 'qemu-trace', trace, '--store', store], ...short.devices, ...short.state, ...short.log,
    ['inspect', path.join(root, 'streams/qemu/pc-modern-net-blk/devstate.bin.gz')],
  ];
  return { ...short, full };
};

/** Runs the command lines in this process's compile of a bundle (`pick`, as bin/devrec's bundleFor gives it) and writes the code cache it leaves. */
async function makeCache(pick, runs) {
  const { cache } = pick;
  rmSync(cache, { force: true });
  const { cli, script } = loadCli({ useCache: false, pick });
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
    if (code !== 0) throw new Error(`build-cli: \`devrec ${args.join(' ')}\` exited ${code} while making ${cache}`);
  }
  writeFileSync(cache, script.createCachedData());
}

if (process.argv[2] === '--cache') {
  // a child: node scripts/build-cli.mjs --cache NAME STORE
  const [, , , name, store] = process.argv;
  const runs = runsOf(store)[name];
  await makeCache(name === 'full' ? FULL : bundleFor(runs[0]), runs);
} else {
  // The caches are made again only when a bundle, this script or Node changed (npm test builds after npm install
  // built the same thing: the caches it made are still the ones V8 takes).
  const caches = [FULL.cache, ...SHORT_COMMANDS.map((c) => bundleFor([c === 'program' ? '--version' : c]).cache)];
  const stampFile = path.join(path.dirname(fullBundle), 'caches.stamp');
  const stamp = createHash('sha256').update(process.version).update(process.execPath)
    .update(readFileSync(fullBundle)).update(readFileSync(shortBundle)).update(readFileSync(fileURLToPath(import.meta.url)))
    .digest('hex');
  const fresh = existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp && caches.every((c) => existsSync(c));
  if (!fresh) {
    rmSync(stampFile, { force: true });
    const work = mkdtempSync(path.join(tmpdir(), 'devrec-build-'));
    const store = `file:${path.join(work, 'store')}`;
    try {
      // the full bundle's first: its import run makes the store the others read
      for (const name of ['full', ...SHORT_COMMANDS]) {
        if (!runsOf(store)[name]) throw new Error(`build-cli: no command lines to make the ${name} cache from`);
        execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--cache', name, store], { stdio: 'inherit' });
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    writeFileSync(stampFile, stamp);
  }
}
