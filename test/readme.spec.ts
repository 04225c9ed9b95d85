// README's code runs as written: the library example (in a child process, which must exit by itself) and the CLI
// lines of "Try it" (in process), on the committed QEMU capture.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { devrec } from './helpers/cli.js';
import { tmpDir } from './helpers/tmp.js';

const README = readFileSync('README.md', 'utf8');

/** The first fenced block of `lang` after the heading `heading`. */
function block(heading: string, lang: string): string {
  const at = README.indexOf(`\n## ${heading}\n`);
  expect(at, `README heading "${heading}"`).to.be.greaterThan(-1);
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(README.slice(at));
  expect(m, `a ${lang} block under "${heading}"`).to.not.equal(null);
  return m![1]!;
}

describe('README', function () {
  this.timeout(60000);

  it('the library example runs verbatim and the process exits by itself', async function () {
    // inside the package, so `import ... from 'devrec'` resolves to this checkout (package self-reference, dist/)
    const dir = mkdtempSync(path.resolve('.tmp-readme-'));
    try {
      const file = path.join(dir, 'example.mjs');
      writeFileSync(file, block('The library at a glance', 'ts'));
      const child = spawn(process.execPath, [file], { cwd: dir });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const killer = setTimeout(() => child.kill('SIGKILL'), 30000);
      const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on('exit', (c, s) => r([c, s])));
      clearTimeout(killer);
      expect(signal, 'killed after 30 s: the example did not exit by itself').to.equal(null);
      expect(code, stderr).to.equal(0);
      expect(stderr).to.equal('');
      expect(stdout).to.contain("device: 'virtio-blk-pci@00:03.0'").and.contain('0 statusWritten');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the "Try it" CLI lines run (each exits 0, lint 0 or 2)', async function () {
    const dir = tmpDir();
    const lines = block('Try it', 'sh').trim().split('\n').filter((l) => l.startsWith('devrec '));
    expect(lines.length).to.be.greaterThan(3);
    for (const line of lines) {
      const args = line.replaceAll('/tmp/devrec-try', path.join(dir, 'try')).split(/\s+/).slice(1);
      const r = await devrec(args);
      expect(r.code, `${line}: ${r.stderr}`).to.be.oneOf(args[0] === 'lint' ? [0, 2] : [0]);
      expect(r.stderr, line).to.equal('');
      expect(r.stdout.length, line).to.be.greaterThan(0);
    }
  });
});
