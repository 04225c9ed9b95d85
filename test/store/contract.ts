// The EventStore contract suite: every store implementation runs it (see *.spec.ts beside this file).
import { expect } from 'chai';
import { firstValueFrom, take, toArray, timeout } from 'rxjs';
import type { AppendResult, EventStore } from '../../src/store/types.js';
import { WrongExpectedRevisionError } from '../../src/store/types.js';
import { allOrNothing } from '../../src/store/all-or-nothing.js';
import { collect, ev, statusEv, vqEv } from '../helpers/events.js';

export interface StoreFactory {
  name: string;
  /** a fresh, empty store */
  create(): Promise<EventStore>;
  /** the same store reopened (durable stores); undefined for stores that forget on close */
  reopen?(store: EventStore): Promise<EventStore>;
  /**
   * What global positions look like: 'contiguous' (the default: 0, 1, 2, ... in append order, like the embedded
   * log) or 'increasing' (strictly increasing in append order, with gaps, like KurrentDB commit positions).
   * Assertions are written on the rank of a position in readAll(); for contiguous stores the rank is also
   * checked to equal the position, so they assert exactly what they did before.
   */
  positions?: 'contiguous' | 'increasing';
}

/**
 * Reads the whole store's global order and returns position -> rank (index in readAll()). Checks that positions
 * strictly increase, and for contiguous stores that position == rank.
 */
async function positionRanks(store: EventStore, factory: StoreFactory): Promise<(position: number) => number> {
  const positions = (await collect(store.readAll())).map((e) => e.position);
  for (let i = 1; i < positions.length; i++) expect(positions[i], `readAll position #${i}`).to.be.greaterThan(positions[i - 1]!);
  if ((factory.positions ?? 'contiguous') === 'contiguous') expect(positions).to.deep.equal(positions.map((_, i) => i));
  return (position) => {
    const rank = positions.indexOf(position);
    expect(rank, `position ${position} is the position of an event in readAll()`).to.be.at.least(0);
    return rank;
  };
}

export function eventStoreContract(factory: StoreFactory): void {
  describe(`EventStore contract: ${factory.name}`, function () {
    let store: EventStore;
    beforeEach(async () => {
      store = await factory.create();
    });
    afterEach(async () => {
      await store.close();
    });

    it('assigns 0-based revisions and global positions in append order', async () => {
      const a = await store.append('dev-a', [statusEv(1), statusEv(3)]);
      const b = await store.append('dev-b', [statusEv(1)]);
      const c = await store.append('dev-a', [statusEv(7)]);
      const rank = await positionRanks(store, factory);
      const ranked = (r: AppendResult) => ({ ...r, position: rank(r.position) });
      expect(ranked(a)).to.deep.equal({ firstRevision: 0, nextExpectedRevision: 1, position: 1 });
      expect(ranked(b)).to.deep.equal({ firstRevision: 0, nextExpectedRevision: 0, position: 2 });
      expect(ranked(c)).to.deep.equal({ firstRevision: 2, nextExpectedRevision: 2, position: 3 });
      const events = await collect(store.read('dev-a'));
      expect(events.map((e) => [e.revision, rank(e.position), e.event.revision])).to.deep.equal([[0, 0, 0], [1, 1, 1], [2, 3, 2]]);
      expect(events.map((e) => (e.event.body as { status: number }).status)).to.deep.equal([1, 3, 7]);
      expect(await store.head('dev-a')).to.equal(2);
      expect(await store.head('nope')).to.equal(-1);
    });

    it('keeps every field of an event bit-exact, bit 63 included', async () => {
      const body = { kind: 'queueConfigured' as const, index: 2, size: 0, desc: (1n << 63n) | 0x1234n, driver: 0xffffffffffffffffn, enabled: false };
      await store.append('d', [ev({ kind: 'deviceFeatures', value: 1n << 63n, highWords: [5n] }, 1790000000123456789n), ev(body)]);
      const [f, q] = await collect(store.read('d'));
      expect(f!.event.timestampNs).to.equal(1790000000123456789n);
      expect(f!.event.body).to.deep.equal({ kind: 'deviceFeatures', value: 1n << 63n, highWords: [5n] });
      expect(q!.event.body).to.deep.equal(body);
    });

    it('refuses a wrong expected revision and appends nothing', async () => {
      await store.append('d', [statusEv(1)]);
      await expectRejected(store.append('d', [statusEv(2)], 5), WrongExpectedRevisionError);
      let err: unknown;
      try {
        await store.append('d', [statusEv(2)], 'no-stream');
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(WrongExpectedRevisionError);
      expect((err as WrongExpectedRevisionError).actual).to.equal(0);
      await expectRejected(store.append('new', [statusEv(2)], 'stream-exists'), WrongExpectedRevisionError);
      await expectRejected(store.append('d', [statusEv(2)], 1), WrongExpectedRevisionError);
      expect(await store.head('d')).to.equal(0);
      expect(await store.head('new')).to.equal(-1);
      const ok = await store.append('d', [statusEv(2)], 0);
      expect(ok.firstRevision).to.equal(1);
      await store.append('fresh', [statusEv(1)], 'no-stream');
      await store.append('fresh', [statusEv(2)], 'stream-exists');
      expect(await store.head('fresh')).to.equal(1);
    });

    it('appendMany is all or nothing', async () => {
      await store.append('a', [statusEv(1)]);
      await expectRejected(store.appendMany([
        { stream: 'b', events: [statusEv(1)] },
        { stream: 'a', events: [statusEv(2)], expectedRevision: 7 },
      ]), WrongExpectedRevisionError);
      expect(await store.head('b')).to.equal(-1);
      const res = await store.appendMany([
        { stream: 'b', events: [statusEv(1), statusEv(2)] },
        { stream: 'a', events: [statusEv(3)], expectedRevision: 0 },
        { stream: 'b', events: [statusEv(4)] },
      ]);
      expect(res.map((r) => r.firstRevision)).to.deep.equal([0, 1, 2]);
      expect((await collect(store.read('b'))).map((e) => (e.event.body as { status: number }).status)).to.deep.equal([1, 2, 4]);
    });

    it('an import run through allOrNothing that fails leaves nothing, and its retry writes everything (issue 15 item 5)', async () => {
      await store.append('kept', [statusEv(1)]);
      class ImportFailed extends Error {}
      // like an importer: several devices, several appends, then a bad line (or not)
      const importer = (fail: boolean) => async () => {
        await store.appendMany([
          { stream: 'imp-a', events: [statusEv(1), statusEv(3)], expectedRevision: 'no-stream' },
          { stream: 'imp-b', events: [statusEv(1)], expectedRevision: 'no-stream' },
        ]);
        await store.append('imp-a', [statusEv(7)], 1);
        expect(await store.head('imp-a')).to.equal(2);
        if (fail) throw new ImportFailed('trace.log: line 8991: value out of range');
        await store.append('imp-b', [statusEv(15)]);
        return 'imported';
      };
      await expectRejected(allOrNothing(store, importer(true)), ImportFailed);
      expect(await store.head('imp-a')).to.equal(-1);
      expect(await store.head('imp-b')).to.equal(-1);
      expect((await collect(store.readAll())).map((e) => e.stream)).to.deep.equal(['kept']);
      expect(await allOrNothing(store, importer(false))).to.equal('imported');
      const status = async (s: string) => (await collect(store.read(s))).map((e) => (e.event.body as { status: number }).status);
      expect(await status('imp-a')).to.deep.equal([1, 3, 7]);
      expect(await status('imp-b')).to.deep.equal([1, 15]);
      // the global order inside an import is the store's (KurrentDB writes it stream by stream): count only
      expect((await collect(store.readAll())).map((e) => e.stream).sort()).to.deep.equal(['imp-a', 'imp-a', 'imp-a', 'imp-b', 'imp-b', 'kept']);
      // plain appends go on after it
      await store.append('kept', [statusEv(3)], 0);
      expect(await store.head('kept')).to.equal(1);
    });

    it('reads ranges forwards and backwards with maxCount', async () => {
      for (let i = 0; i < 10; i++) await store.append('d', [vqEv(0, i + 1)]);
      const rev = (xs: { revision: number }[]) => xs.map((x) => x.revision);
      expect(rev(await collect(store.read('d', { from: 3, to: 6 })))).to.deep.equal([3, 4, 5, 6]);
      expect(rev(await collect(store.read('d', { from: 8 })))).to.deep.equal([8, 9]);
      expect(rev(await collect(store.read('d', { from: 2, maxCount: 3 })))).to.deep.equal([2, 3, 4]);
      expect(rev(await collect(store.read('d', { direction: 'backwards', maxCount: 3 })))).to.deep.equal([9, 8, 7]);
      expect(rev(await collect(store.read('d', { direction: 'backwards', from: 4, to: 2 })))).to.deep.equal([4, 3, 2]);
      expect(rev(await collect(store.read('d', { from: 20 })))).to.deep.equal([]);
      expect(await collect(store.read('missing'))).to.deep.equal([]);
    });

    it('reads every stream in global order', async () => {
      await store.append('a', [statusEv(1)]);
      await store.append('b', [statusEv(2), statusEv(3)]);
      await store.append('a', [statusEv(4)]);
      const all = await collect(store.readAll());
      const rank = await positionRanks(store, factory);
      expect(all.map((e) => [e.stream, e.revision, rank(e.position)])).to.deep.equal([['a', 0, 0], ['b', 0, 1], ['b', 1, 2], ['a', 1, 3]]);
      // from the third event's position (2 on contiguous stores), inclusive
      expect((await collect(store.readAll(all[2]!.position))).map((e) => rank(e.position))).to.deep.equal([2, 3]);
    });

    it('lists streams with their last revision', async () => {
      await store.append('b', [statusEv(1), statusEv(2)]);
      await store.append('a', [statusEv(1)]);
      const list = (await store.streams()).sort((x, y) => x.stream.localeCompare(y.stream));
      expect(list).to.deep.equal([{ stream: 'a', revision: 0 }, { stream: 'b', revision: 1 }]);
    });

    it('subscriptions catch up, then go live, with no gap or duplicate', async () => {
      await store.append('d', [statusEv(1), statusEv(2)]);
      await store.append('other', [statusEv(9)]);
      const got = firstValueFrom(store.subscribe('d', { from: 1 }).pipe(take(4), toArray(), timeout(5000)));
      await store.append('d', [statusEv(3)]);
      await store.append('other', [statusEv(9)]);
      await store.append('d', [statusEv(4), statusEv(5)]);
      expect((await got).map((e) => e.revision)).to.deep.equal([1, 2, 3, 4]);
      const all = firstValueFrom(store.subscribe(null).pipe(take(7), toArray(), timeout(5000)));
      await store.append('x', [statusEv(1)]);
      const delivered = await all;
      const rank = await positionRanks(store, factory);
      expect(delivered.map((e) => rank(e.position))).to.deep.equal([0, 1, 2, 3, 4, 5, 6]);
    });

    it('keeps snapshots and returns the latest at or before a revision', async () => {
      await store.append('d', [statusEv(1), statusEv(2), statusEv(3)]);
      await store.saveSnapshot('d', 0, Uint8Array.from([1]));
      await store.saveSnapshot('d', 2, Uint8Array.from([3, 3]));
      expect(await store.loadSnapshot('d', 1)).to.deep.include({ revision: 0 });
      const s = await store.loadSnapshot('d', 5);
      expect(s?.revision).to.equal(2);
      expect([...s!.data]).to.deep.equal([3, 3]);
      expect(await store.loadSnapshot('other', 5)).to.equal(undefined);
    });

    if (factory.reopen) {
      it('keeps everything across close and reopen', async () => {
        await store.append('d', [statusEv(1), statusEv(2)]);
        await store.append('e', [statusEv(5)]);
        await store.saveSnapshot('d', 1, Uint8Array.from([9]));
        store = await factory.reopen!(store);
        expect(await store.head('d')).to.equal(1);
        expect((await collect(store.readAll())).map((e) => e.stream)).to.deep.equal(['d', 'd', 'e']);
        expect((await store.loadSnapshot('d', 1))?.revision).to.equal(1);
        const r = await store.append('d', [statusEv(3)], 1);
        const rank = await positionRanks(store, factory);
        expect({ ...r, position: rank(r.position) }).to.deep.equal({ firstRevision: 2, nextExpectedRevision: 2, position: 3 });
      });
    }
  });
}

export async function expectRejected(p: Promise<unknown>, type: new (...args: never[]) => Error): Promise<Error> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(type);
    return err as Error;
  }
  throw new Error(`expected a ${type.name}`);
}
