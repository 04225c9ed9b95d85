// The test double of the KurrentDB client boundary, tested for the behaviours the adapter relies on. These are
// claims about the double (which follows the client's documented API), not about a real server.
import { expect } from 'chai';
import {
  ANY, BACKWARDS, END, MaxAppendSizeExceededError, NO_STREAM, START, STREAM_EXISTS, StreamNotFoundError, UnavailableError, WrongExpectedVersionError,
  binaryEvent, jsonEvent, streamNameFilter, type ResolvedEvent,
} from '@kurrent/kurrentdb-client';
import { KurrentDbClientDouble } from './kurrentdb-double.js';
import { collect } from '../helpers/events.js';

const bin = (n: number, type = 'statusWritten') => binaryEvent({ type, data: Uint8Array.from([n]) });
const revs = (xs: ResolvedEvent[]) => xs.map((x) => x.event!.revision);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

function until<T>(pred: () => T | undefined, ms = 2000): Promise<T> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      const v = pred();
      if (v !== undefined) return resolve(v);
      if (Date.now() - t0 > ms) return reject(new Error('timed out'));
      setTimeout(tick, 5);
    };
    tick();
  });
}

describe('KurrentDbClientDouble (test double of the client boundary)', function () {
  it('double: appendToStream honours ANY, NO_STREAM, STREAM_EXISTS and exact bigint revisions', async () => {
    const c = new KurrentDbClientDouble();
    const r0 = await c.appendToStream('s', [bin(1), bin(2)], { streamState: NO_STREAM });
    expect(r0.success).to.equal(true);
    expect(r0.nextExpectedRevision).to.equal(1n);
    const err = await rejection(c.appendToStream('s', bin(3), { streamState: NO_STREAM }));
    expect(err).to.be.instanceOf(WrongExpectedVersionError);
    expect((err as WrongExpectedVersionError).streamName).to.equal('s');
    expect((err as WrongExpectedVersionError).expectedState).to.equal(NO_STREAM);
    expect((err as WrongExpectedVersionError).actualState).to.equal(1n);
    const missing = await rejection(c.appendToStream('t', bin(1), { streamState: STREAM_EXISTS }));
    expect((missing as WrongExpectedVersionError).actualState).to.equal(NO_STREAM);
    const wrong = await rejection(c.appendToStream('s', bin(3), { streamState: 0n }));
    expect((wrong as WrongExpectedVersionError).actualState).to.equal(1n);
    expect((await c.appendToStream('s', bin(3), { streamState: 1n })).nextExpectedRevision).to.equal(2n);
    expect((await c.appendToStream('s', bin(4), { streamState: STREAM_EXISTS })).nextExpectedRevision).to.equal(3n);
    expect((await c.appendToStream('s', bin(5), { streamState: ANY })).nextExpectedRevision).to.equal(4n);
    expect((await c.appendToStream('s', bin(6))).nextExpectedRevision).to.equal(5n);
    // an empty append creates nothing
    await c.appendToStream('empty', [], { streamState: NO_STREAM });
    expect(c.streamNames()).to.not.include('empty');
  });

  it('double: refuses an append larger than MaxAppendSize and writes nothing of it', async () => {
    const c = new KurrentDbClientDouble({ maxAppendSize: 100 });
    await c.appendToStream('s', binaryEvent({ type: 't', data: new Uint8Array(60) }));
    const err = await rejection(c.appendToStream('s', [binaryEvent({ type: 't', data: new Uint8Array(60) }), binaryEvent({ type: 't', data: new Uint8Array(60) })]));
    expect(err).to.be.instanceOf(MaxAppendSizeExceededError);
    expect(c.stored('s')).to.have.length(1);
    expect((await c.newClient().appendToStream('s', binaryEvent({ type: 't', data: new Uint8Array(90) }))).nextExpectedRevision).to.equal(1n);
    expect(await rejection(new KurrentDbClientDouble().appendToStream('big', binaryEvent({ type: 't', data: new Uint8Array(1024 * 1024 + 1) })))).to.be.instanceOf(MaxAppendSizeExceededError);
  });

  it('double: positions are increasing byte offsets, not 0..n, and the append result describes the write', async () => {
    const c = new KurrentDbClientDouble();
    const res = await c.appendToStream('s', [bin(1), bin(2), bin(3)]);
    const stored = c.stored('s');
    expect(stored.map((s) => s.revision)).to.deep.equal([0n, 1n, 2n]);
    const positions = stored.map((s) => s.position);
    expect(positions[0]! > 0n).to.equal(true);
    expect(positions[1]! - positions[0]! > 1n).to.equal(true);
    expect(positions[2]! > positions[1]!).to.equal(true);
    // like the server's: not the $all position of the last event
    expect(res.position!.prepare).to.equal(positions[0]);
    expect(res.position!.commit > positions[2]!).to.equal(true);
  });

  it('double: readStream reads forwards and backwards with bigint revisions and throws StreamNotFoundError for a missing stream', async () => {
    const c = new KurrentDbClientDouble();
    await c.appendToStream('s', [0, 1, 2, 3, 4].map((n) => bin(n)));
    expect(revs(await collect(c.readStream('s')))).to.deep.equal([0n, 1n, 2n, 3n, 4n]);
    expect(revs(await collect(c.readStream('s', { fromRevision: 2n, maxCount: 2 })))).to.deep.equal([2n, 3n]);
    expect(revs(await collect(c.readStream('s', { direction: BACKWARDS, fromRevision: END, maxCount: 2 })))).to.deep.equal([4n, 3n]);
    expect(revs(await collect(c.readStream('s', { direction: BACKWARDS, fromRevision: 9n, maxCount: 2 })))).to.deep.equal([4n, 3n]);
    expect(revs(await collect(c.readStream('s', { fromRevision: 9n })))).to.deep.equal([]);
    const e = (await collect(c.readStream('s', { fromRevision: 1n, maxCount: 1 })))[0]!.event!;
    expect(e).to.include({ streamId: 's', type: 'statusWritten', isJson: false });
    expect([...(e.data as Uint8Array)]).to.deep.equal([1]);
    expect(e.position!.commit).to.equal(c.stored('s')[1]!.position);
    expect(await rejection(collect(c.readStream('nope')))).to.be.instanceOf(StreamNotFoundError);
  });

  it('double: metadata round-trips like the client (JSON objects parsed back, bytes kept)', async () => {
    const c = new KurrentDbClientDouble();
    await c.appendToStream('m', [
      binaryEvent({ type: 'a', data: Uint8Array.from([1]), metadata: { revision: 7 } }),
      binaryEvent({ type: 'b', data: Uint8Array.from([2]), metadata: Uint8Array.from([0xff, 0x00]) }),
      jsonEvent({ type: 'c', data: { x: 1 } }),
    ]);
    const [a, b, j] = await collect(c.readStream('m'));
    expect(a!.event!.metadata).to.deep.equal({ revision: 7 });
    expect([...(b!.event!.metadata as Uint8Array)]).to.deep.equal([0xff, 0x00]);
    expect(j!.event!.isJson).to.equal(true);
    expect(j!.event!.data).to.deep.equal({ x: 1 });
  });

  it('double: readAll holds foreign records, filters on stream-name prefixes, reads both ways and refuses non-boundary positions', async () => {
    const c = new KurrentDbClientDouble();
    const everything = await collect(c.readAll());
    expect(everything.map((e) => e.event!.streamId)).to.deep.equal(['$settings', 'orders-1']);
    await c.appendToStream('app-device-a', bin(1));
    await c.appendToStream('other-b', bin(2));
    await c.appendToStream('app-device-c', [bin(3), bin(4)]);
    const filter = streamNameFilter({ prefixes: ['app-device-'] });
    const mine = await collect(c.readAll({ filter }));
    expect(mine.map((e) => [e.event!.streamId, e.event!.revision])).to.deep.equal([['app-device-a', 0n], ['app-device-c', 0n], ['app-device-c', 1n]]);
    const ps = mine.map((e) => e.commitPosition!);
    expect(ps).to.deep.equal(mine.map((e) => e.event!.position.commit));
    expect(ps[1]! > ps[0]! && ps[2]! > ps[1]!).to.equal(true);
    // forward from a record's position is inclusive
    const from = await collect(c.readAll({ filter, fromPosition: { commit: ps[1]!, prepare: ps[1]! } }));
    expect(from.map((e) => e.commitPosition)).to.deep.equal([ps[1], ps[2]]);
    const back = await collect(c.readAll({ filter, direction: BACKWARDS, fromPosition: END, maxCount: 2 }));
    expect(back.map((e) => e.commitPosition)).to.deep.equal([ps[2], ps[1]]);
    expect(await rejection(collect(c.readAll({ fromPosition: { commit: ps[0]! + 1n, prepare: ps[0]! + 1n } })))).to.be.instanceOf(Error);
    const typed = await collect(c.readAll({ filter: { filterOn: 'eventType', prefixes: ['Order'], checkpointInterval: 1 } }));
    expect(typed.map((e) => e.event!.type)).to.deep.equal(['OrderPlaced']);
  });

  it('double: subscribeToStream emits existing events after the exclusive start, caughtUp, then live events', async () => {
    const c = new KurrentDbClientDouble();
    await c.appendToStream('s', [0, 1, 2].map((n) => bin(n)));
    const seen: string[] = [];
    const sub = c.subscribeToStream('s', { fromRevision: 0n });
    sub.on('confirmation', () => seen.push('confirmation'));
    sub.on('data', (e: ResolvedEvent) => seen.push(`rev ${e.event!.revision}`));
    sub.on('caughtUp', () => seen.push('caughtUp'));
    await until(() => (seen.includes('caughtUp') ? true : undefined));
    await c.appendToStream('other', bin(9));
    await c.appendToStream('s', [bin(3), bin(4)]);
    await until(() => (seen.length >= 6 ? true : undefined));
    await sub.unsubscribe();
    expect(seen).to.deep.equal(['confirmation', 'rev 1', 'rev 2', 'caughtUp', 'rev 3', 'rev 4']);
    // START delivers from revision 0; END only what comes later
    const fromStart = c.subscribeToStream('s', { fromRevision: START });
    const all: bigint[] = [];
    fromStart.on('data', (e: ResolvedEvent) => all.push(e.event!.revision));
    const fromEnd = c.subscribeToStream('s', { fromRevision: END });
    const later: bigint[] = [];
    fromEnd.on('data', (e: ResolvedEvent) => later.push(e.event!.revision));
    await until(() => (all.length === 5 ? true : undefined));
    await c.appendToStream('s', bin(5));
    await until(() => (later.length === 1 && all.length === 6 ? true : undefined));
    expect(all).to.deep.equal([0n, 1n, 2n, 3n, 4n, 5n]);
    expect(later).to.deep.equal([5n]);
    await fromStart.unsubscribe();
    await fromEnd.unsubscribe();
  });

  it('double: a stream subscription past the head skips revisions up to its start, even when they arrive live', async () => {
    const c = new KurrentDbClientDouble();
    await c.appendToStream('s', bin(0));
    const got: bigint[] = [];
    const sub = c.subscribeToStream('s', { fromRevision: 2n });
    sub.on('data', (e: ResolvedEvent) => got.push(e.event!.revision));
    await c.appendToStream('s', [bin(1), bin(2), bin(3), bin(4)]);
    await until(() => (got.length >= 2 ? true : undefined));
    await sub.unsubscribe();
    expect(got).to.deep.equal([3n, 4n]);
  });

  it('double: subscribeToAll filters, starts after an exclusive position, and has no gap or duplicate across catch-up and live', async () => {
    const c = new KurrentDbClientDouble();
    await c.appendToStream('p-device-a', [bin(0), bin(1)]);
    const ps = c.stored('p-device-a').map((s) => s.position);
    const got: string[] = [];
    const sub = c.subscribeToAll({ fromPosition: { commit: ps[0]!, prepare: ps[0]! }, filter: streamNameFilter({ prefixes: ['p-device-'] }) });
    sub.on('data', (e: ResolvedEvent) => got.push(`${e.event!.streamId}@${e.event!.revision}`));
    let caughtUp = false;
    sub.on('caughtUp', () => (caughtUp = true));
    // appended before delivery starts: still delivered once, after the catch-up
    await c.appendToStream('p-device-b', bin(0));
    await c.appendToStream('elsewhere', bin(0));
    await until(() => (caughtUp && got.length >= 2 ? true : undefined));
    await c.appendToStream('p-device-a', bin(2));
    await until(() => (got.length >= 3 ? true : undefined));
    await sub.unsubscribe();
    expect(got).to.deep.equal(['p-device-a@1', 'p-device-b@0', 'p-device-a@2']);
  });

  it('double: clients share one log; dispose ends subscriptions; failWith injects connection errors', async () => {
    const c = new KurrentDbClientDouble();
    const other = c.newClient();
    await other.appendToStream('s', bin(1));
    expect(revs(await collect(c.readStream('s')))).to.deep.equal([0n]);
    const sub = c.subscribeToStream('s');
    let ended = false;
    sub.on('data', () => undefined);
    sub.on('end', () => (ended = true));
    await c.dispose();
    await until(() => (ended ? true : undefined));
    expect(await rejection(c.appendToStream('s', bin(2)))).to.be.instanceOf(Error);
    other.failWith(new UnavailableError());
    expect(await rejection(other.appendToStream('s', bin(2)))).to.be.instanceOf(UnavailableError);
    other.failWith(undefined);
    expect((await other.appendToStream('s', bin(2))).nextExpectedRevision).to.equal(1n);
  });
});
