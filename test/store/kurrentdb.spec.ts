// The KurrentDB store: the contract suite on the adapter over KurrentDbClientDouble (a test double of the client,
// in CI), the same suite against a real server when KURRENTDB_URL is set, and what is specific to KurrentDB.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { firstValueFrom, take, toArray, timeout } from 'rxjs';
import {
  AccessDeniedError, DeadlineExceededError, UnavailableError, streamNameFilter,
  type AllStreamResolvedEvent, type AppendResult as ClientAppendResult, type AppendToStreamOptions, type EventData,
} from '@kurrent/kurrentdb-client';
import { fastEncodeEvent } from '../../src/events/fast-codec.js';
import { KurrentDbEventStore, PartialAppendError, SNAPSHOT_EVENT_TYPE, type KurrentDbClientLike } from '../../src/store/kurrentdb.js';
import { StoreConnectionError, StreamNames, parseKurrentDbUrl, redactUrl } from '../../src/store/kurrentdb-common.js';
import { openStore } from '../../src/store/open.js';
import { allOrNothing } from '../../src/store/all-or-nothing.js';
import { WrongExpectedRevisionError } from '../../src/store/types.js';
import { eventStoreContract, expectRejected } from './contract.js';
import { KurrentDbClientDouble } from './kurrentdb-double.js';
import { collect, ev, statusEv, vqEv } from '../helpers/events.js';
import { devrec, devrecProcess } from '../helpers/cli.js';

const randomPrefix = () => `devrec-test-${randomBytes(5).toString('hex')}`;

// ---- the contract on the double ---------------------------------------------------------------------------

const server = new KurrentDbClientDouble(); // one shared "server"; every store gets its own client and prefix
const prefixes = new WeakMap<object, string>();
function onDouble(prefix = randomPrefix(), client: KurrentDbClientLike = server.newClient()): KurrentDbEventStore {
  const s = new KurrentDbEventStore(client, { prefix, url: 'double:kurrentdb', ownsClient: true });
  prefixes.set(s, prefix);
  return s;
}

eventStoreContract({
  name: 'kurrentdb adapter on KurrentDbClientDouble (a test double of the client, not a server)',
  positions: 'increasing',
  create: async () => onDouble(),
  reopen: async (s) => {
    await s.close();
    return onDouble(prefixes.get(s)!);
  },
});

// ---- the contract on a real server (opt-in) ---------------------------------------------------------------

const realUrl = process.env['KURRENTDB_URL'];
if (realUrl) {
  const realPrefixes = new WeakMap<object, string>();
  const connect = async (prefix: string) => {
    const s = await KurrentDbEventStore.connect(realUrl, { prefix });
    realPrefixes.set(s, prefix);
    return s;
  };
  eventStoreContract({
    name: `kurrentdb (real server at ${redactUrl(realUrl)})`,
    positions: 'increasing',
    create: () => connect(randomPrefix()),
    reopen: async (s) => {
      await s.close();
      return connect(realPrefixes.get(s)!);
    },
  });
} else {
  describe('EventStore contract: kurrentdb (real server)', function () {
    it('skipped: set KURRENTDB_URL (e.g. kurrentdb://localhost:2113?tls=false) to run the contract suite against a real server');
  });
}

// ---- KurrentDB specifics (on the double) ------------------------------------------------------------------

/** A client that lets a test act just before each append reaches the double (a racing writer). */
class RacingClient implements KurrentDbClientLike {
  beforeAppend: ((stream: string) => Promise<void>) | undefined;
  constructor(private readonly inner: KurrentDbClientDouble) {}
  async appendToStream(stream: string, events: EventData | EventData[], options?: AppendToStreamOptions): Promise<ClientAppendResult> {
    await this.beforeAppend?.(stream);
    return this.inner.appendToStream(stream, events, options);
  }
  readStream: KurrentDbClientLike['readStream'] = (s, o) => this.inner.readStream(s, o);
  readAll: KurrentDbClientLike['readAll'] = (o) => this.inner.readAll(o);
  subscribeToStream: KurrentDbClientLike['subscribeToStream'] = (s, o, r) => this.inner.subscribeToStream(s, o, r);
  subscribeToAll: KurrentDbClientLike['subscribeToAll'] = (o, r) => this.inner.subscribeToAll(o, r);
  dispose = () => this.inner.dispose();
}

describe('kurrentdb store (adapter on KurrentDbClientDouble, a test double)', function () {
  let store: KurrentDbEventStore;
  let prefix: string;
  let client: KurrentDbClientDouble;
  beforeEach(() => {
    prefix = randomPrefix();
    client = server.newClient();
    store = onDouble(prefix, client);
  });
  afterEach(async () => {
    await store.close();
  });

  it('double: one binary event per devrec event, with the embedded log\'s protobuf bytes, typed by event kind, in <prefix>-device-<uri-encoded id>', async () => {
    const id = 'virtio-net-pci@00:02.0/a b%';
    const events = [statusEv(1), vqEv(2, 3), ev({ kind: 'deviceFeatures', value: 1n << 63n, highWords: [] })];
    await store.append(id, events);
    const name = `${prefix}-device-${encodeURIComponent(id)}`;
    expect(name).to.equal(`${prefix}-device-virtio-net-pci%4000%3A02.0%2Fa%20b%25`);
    const stored = client.stored(name);
    expect(stored.map((s) => [s.type, s.isJson])).to.deep.equal([['statusWritten', false], ['vqIndex', false], ['deviceFeatures', false]]);
    stored.forEach((s, i) => expect(Buffer.from(s.data).equals(Buffer.from(fastEncodeEvent(events[i]!, i))), `event ${i}`).to.equal(true));
    expect(await store.streams()).to.deep.equal([{ stream: id, revision: 2 }]);
    // listable by anyone with a $all read filtered on the prefix
    const listed = await collect(client.readAll({ filter: streamNameFilter({ prefixes: [`${prefix}-device-`] }) })) as AllStreamResolvedEvent[];
    expect(new Set(listed.map((e) => e.event!.streamId))).to.deep.equal(new Set([name]));
  });

  it('double: positions are commit positions (increasing, with gaps); readAll and subscribe(null) start at a position inclusively', async () => {
    await store.append('a', [statusEv(1), statusEv(2)]);
    await server.newClient().appendToStream('someone-else', []); // nothing
    await store.append('b', [statusEv(3)]);
    await store.append('a', [statusEv(4)]);
    const all = await collect(store.readAll());
    const ps = all.map((e) => e.position);
    expect(ps[0]).to.be.greaterThan(0);
    expect(ps[1]! - ps[0]!).to.be.greaterThan(1);
    expect((await collect(store.readAll(ps[2]!))).map((e) => e.position)).to.deep.equal([ps[2], ps[3]]);
    const sub = firstValueFrom(store.subscribe(null, { from: ps[1]! }).pipe(take(4), toArray(), timeout(5000)));
    await store.append('c', [statusEv(5)]);
    const got = await sub;
    expect(got.map((e) => [e.stream, e.revision])).to.deep.equal([['a', 1], ['b', 0], ['a', 2], ['c', 0]]);
    expect(got[0]!.position).to.equal(ps[1]);
  });

  it('double: a stream subscription from past the head waits for that revision', async () => {
    await store.append('d', [statusEv(1)]);
    const sub = firstValueFrom(store.subscribe('d', { from: 3 }).pipe(take(2), toArray(), timeout(5000)));
    await store.append('d', [statusEv(2), statusEv(3), statusEv(4), statusEv(5)]);
    expect((await sub).map((e) => e.revision)).to.deep.equal([3, 4]);
  });

  it('double: every append is sent with the exact revision it writes after, so "any" re-encodes after a racing writer', async () => {
    const racing = new RacingClient(server.newClient());
    const s = onDouble(prefix, racing);
    await s.append('d', [statusEv(1)]); // s now believes the head is 0
    const intruder = onDouble(prefix);
    await intruder.append('d', [statusEv(2), statusEv(3)]);
    const r = await s.append('d', [statusEv(4)]);
    expect(r.firstRevision).to.equal(3);
    const events = await collect(s.read('d'));
    expect(events.map((e) => [e.revision, e.event.revision, (e.event.body as { status: number }).status])).to.deep.equal([[0, 0, 1], [1, 1, 2], [2, 2, 3], [3, 3, 4]]);
    // an exact expectation is not retried: the conflict names the actual revision
    racing.beforeAppend = async () => {
      await intruder.append('d', [statusEv(9)]);
    };
    const err = await expectRejected(s.append('d', [statusEv(5)], 3), WrongExpectedRevisionError);
    expect((err as WrongExpectedRevisionError).actual).to.equal(4);
    await s.close();
    await intruder.close();
  });

  it('double: appendMany checks every expectation first, then writes one atomic append per request; a race mid-way is reported as partial', async () => {
    const racing = new RacingClient(server.newClient());
    const s = onDouble(prefix, racing);
    await s.append('a', [statusEv(1)]);
    await s.append('b', [statusEv(1)]);
    // expectations are checked before anything is written
    await expectRejected(s.appendMany([{ stream: 'a', events: [statusEv(2)], expectedRevision: 0 }, { stream: 'b', events: [statusEv(2)], expectedRevision: 5 }]), WrongExpectedRevisionError);
    expect([await s.head('a'), await s.head('b')]).to.deep.equal([0, 0]);
    // a writer that gets in between the check and the write of the second request
    const intruder = onDouble(prefix);
    racing.beforeAppend = async (stream) => {
      if (stream.endsWith('-device-b')) await intruder.append('b', [statusEv(7)]);
    };
    const err = await expectRejected(s.appendMany([
      { stream: 'a', events: [statusEv(2)], expectedRevision: 0 },
      { stream: 'b', events: [statusEv(2)], expectedRevision: 0 },
    ]), PartialAppendError) as PartialAppendError;
    expect(err.writtenStreams).to.deep.equal(['a']);
    expect(err.failedStream).to.equal('b');
    expect(err.cause).to.be.instanceOf(WrongExpectedRevisionError);
    expect([await s.head('a'), await s.head('b')]).to.deep.equal([1, 1]);
    await s.close();
    await intruder.close();
  });

  it('double: a request larger than maxAppendBytes goes out as consecutive exact appends; a race between them is a partial append', async () => {
    const small = new KurrentDbClientDouble({ maxAppendSize: 1000 });
    const racing = new RacingClient(small.newClient());
    const s = new KurrentDbEventStore(racing, { prefix, maxAppendBytes: 400, ownsClient: true });
    const events = Array.from({ length: 40 }, (_, i) => statusEv(i));
    let appends = 0;
    racing.beforeAppend = async () => {
      appends++;
    };
    const r = await s.append('d', events);
    expect(r).to.include({ firstRevision: 0, nextExpectedRevision: 39 });
    expect(appends).to.be.greaterThan(2);
    const back = await collect(s.read('d'));
    expect(back.map((e) => [e.revision, e.event.revision, (e.event.body as { status: number }).status])).to.deep.equal(events.map((_, i) => [i, i, i]));
    // a writer that slips in after the first part
    const intruder = new KurrentDbEventStore(small.newClient(), { prefix, ownsClient: true });
    let parts = 0;
    racing.beforeAppend = async () => {
      if (++parts === 2) await intruder.append('d', [statusEv(99)]);
    };
    const err = await expectRejected(s.append('d', events), PartialAppendError) as PartialAppendError;
    expect(err.failedStream).to.equal('d');
    expect(err.failedWrittenEvents).to.be.greaterThan(0).and.lessThan(40);
    expect(err.cause).to.be.instanceOf(WrongExpectedRevisionError);
    expect(await s.head('d')).to.equal(39 + err.failedWrittenEvents + 1);
    // without a split, a request is one append: the server's limit is then the server's error
    const whole = new KurrentDbEventStore(small.newClient(), { prefix, maxAppendBytes: 1e9, ownsClient: true });
    const many = Array.from({ length: 200 }, (_, i) => statusEv(i));
    expect((await expectRejected(whole.append('e', many), Error)).message).to.contain("exceeds the server's MaxAppendSize (1000 bytes): add ?devrecMaxAppendBytes=");
    expect(await whole.head('e')).to.equal(-1);
    await Promise.all([s.close(), intruder.close(), whole.close()]);
  });

  it('double: an import (allOrNothing) is held and written at the end as one append per stream; one too large for an append is refused with nothing written', async () => {
    const racing = new RacingClient(server.newClient());
    const s = new KurrentDbEventStore(racing, { prefix, maxAppendBytes: 2000, ownsClient: true });
    let appends = 0;
    racing.beforeAppend = async () => {
      appends++;
    };
    await allOrNothing(s, async () => {
      await s.append('a', [statusEv(1)], 'no-stream');
      await s.append('a', [statusEv(3)], 0);
      await s.append('b', [statusEv(1)], 'no-stream');
      expect(appends, 'nothing is sent while the import runs').to.equal(0);
    });
    expect(appends, 'one append per stream').to.equal(2);
    expect((await collect(s.read('a'))).map((e) => e.revision)).to.deep.equal([0, 1]);
    // 40 events are about 40 x (96 + their bytes): more than 2000 bytes
    const big = Array.from({ length: 40 }, (_, i) => statusEv(i));
    const err = await expectRejected(allOrNothing(s, () => s.append('c', big, 'no-stream')), Error);
    expect(err.message).to.match(/the import's 40 event\(s\) for device c take about \d+ bytes, more than one KurrentDB append may carry \(2000\); nothing was written\. Raise the server's MaxAppendSize and give \?devrecMaxAppendBytes=/);
    expect(await s.head('c')).to.equal(-1);
    await s.close();
  });

  it('double: snapshots are events in <prefix>-snapshots-<id> with the revision in metadata, read backwards', async () => {
    await store.append('d', [statusEv(1), statusEv(2), statusEv(3), statusEv(4)]);
    await store.saveSnapshot('d', 3, Uint8Array.from([3]));
    await store.saveSnapshot('d', 1, Uint8Array.from([1])); // saved later, lower revision
    const stored = client.stored(`${prefix}-snapshots-d`);
    expect(stored.map((s) => s.type)).to.deep.equal([SNAPSHOT_EVENT_TYPE, SNAPSHOT_EVENT_TYPE]);
    expect(JSON.parse(Buffer.from(stored[0]!.metadata).toString('utf8'))).to.deep.equal({ revision: 3, device: 'd' });
    expect((await store.loadSnapshot('d', 2))?.revision).to.equal(1);
    const best = await store.loadSnapshot('d', 10);
    expect(best?.revision).to.equal(3);
    expect([...best!.data]).to.deep.equal([3]);
    expect(await store.loadSnapshot('d', 0)).to.equal(undefined);
    // snapshot streams are not devices
    expect((await store.streams()).map((s) => s.stream)).to.deep.equal(['d']);
  });

  it('double: namespaces with different prefixes on one server do not see each other', async () => {
    const other = onDouble();
    await store.append('d', [statusEv(1)]);
    await other.append('d', [statusEv(1), statusEv(2)]);
    await other.append('e', [statusEv(1)]);
    expect(await store.streams()).to.deep.equal([{ stream: 'd', revision: 0 }]);
    expect((await collect(store.readAll())).length).to.equal(1);
    expect(await other.head('d')).to.equal(1);
    await other.close();
    expect(() => new StreamNames('devrec-device-x')).to.throw(/not allowed/);
    expect(() => new StreamNames('$devrec')).to.throw(/not allowed/);
  });

  it('double: close completes live subscriptions; a read-only store refuses appends', async () => {
    await store.append('d', [statusEv(1)]);
    const done = firstValueFrom(store.subscribe('d').pipe(toArray(), timeout(5000)));
    await new Promise((r) => setTimeout(r, 20));
    await store.close();
    expect((await done).map((e) => e.revision)).to.deep.equal([0]);
    const ro = new KurrentDbEventStore(server.newClient(), { prefix, readOnly: true, ownsClient: true });
    await expectRejected(ro.append('d', [statusEv(2)]), Error);
    expect(await ro.head('d')).to.equal(0);
    await ro.close();
  });

  it('double: refuses to decode events that are not devrec events in a devrec stream', async () => {
    await client.appendToStream(`${prefix}-device-x`, { id: '00000000-0000-4000-8000-000000000000', contentType: 'application/json', type: 'Foreign', data: { a: 1 }, metadata: undefined });
    const err = await expectRejected(collect(store.read('x')), Error);
    expect(err.message).to.contain('JSON event of type "Foreign"');
  });

  it('double: connection problems become StoreConnectionError naming the URL, in every operation and in subscriptions', async () => {
    const failing = server.newClient();
    const s = new KurrentDbEventStore(failing, { prefix, url: 'kurrentdb://admin:changeit@db.example:2113', ownsClient: true });
    const cases: [Error, string, RegExp][] = [
      [new UnavailableError(), 'unreachable', /no KurrentDB node answered/],
      [new DeadlineExceededError(), 'timeout', /did not answer in time/],
      [new AccessDeniedError(), 'access-denied', /access denied/],
      [Object.assign(new Error('16 UNAUTHENTICATED: bad credentials'), { code: 16 }), 'access-denied', /access denied/],
    ];
    for (const [error, problem, msg] of cases) {
      failing.failWith(error);
      for (const op of [() => s.append('d', [statusEv(1)]), () => collect(s.read('d')), () => s.head('d'), () => s.streams(), () => collect(s.readAll())]) {
        const err = await expectRejected(op(), StoreConnectionError) as StoreConnectionError;
        expect(err.problem).to.equal(problem);
        expect(err.message).to.match(msg);
        expect(err.message).to.contain('kurrentdb://admin:***@db.example:2113').and.not.contain('changeit');
        expect(err.stack).to.not.match(/\n\s+at /);
        expect(err.cause).to.equal(error);
      }
    }
    // a subscription the server refuses at the start, per stream and on $all
    failing.failWith(new UnavailableError());
    for (const target of ['d', null]) {
      const err = await expectRejected(firstValueFrom(s.subscribe(target).pipe(timeout(5000))), StoreConnectionError) as StoreConnectionError;
      expect(err.problem).to.equal('unreachable');
    }
    failing.failWith(undefined);
    const sub = firstValueFrom(s.subscribe('d').pipe(timeout(5000)));
    await new Promise((r) => setTimeout(r, 10));
    // a subscription that fails later (the server goes away)
    const live = (failing as unknown as { subs: Set<NodeJS.EventEmitter> }).subs;
    for (const x of live) x.emit('error', new UnavailableError());
    await expectRejected(sub, StoreConnectionError);
    await s.close();
  });
});

describe('kurrentdb store: URLs and connecting (real client, no server)', function () {
  this.timeout(30000);

  it('splits devrecPrefix off the connection string and hides passwords', () => {
    expect(parseKurrentDbUrl('kurrentdb://h:2113?tls=false&devrecPrefix=lab-1')).to.deep.equal({ clientUrl: 'kurrentdb://h:2113?tls=false', prefix: 'lab-1' });
    expect(parseKurrentDbUrl('kurrentdb://h:2113')).to.deep.equal({ clientUrl: 'kurrentdb://h:2113', prefix: 'devrec' });
    expect(parseKurrentDbUrl('kurrentdb://h:2113?devrecMaxAppendBytes=500000&tls=false')).to.deep.equal({ clientUrl: 'kurrentdb://h:2113?tls=false', prefix: 'devrec', maxAppendBytes: 500000 });
    expect(() => parseKurrentDbUrl('kurrentdb://h:2113?devrecMaxAppendBytes=lots')).to.throw(/not a positive number of bytes/);
    expect(parseKurrentDbUrl('esdb+discover://a:2113,b:2113?devrecPrefix=x')).to.deep.equal({ clientUrl: 'esdb+discover://a:2113,b:2113', prefix: 'x' });
    expect(redactUrl('kurrentdb://admin:changeit@h:2113?tls=true')).to.equal('kurrentdb://admin:***@h:2113?tls=true');
    expect(redactUrl('kurrentdb://h:2113?tls=false')).to.equal('kurrentdb://h:2113?tls=false');
  });

  // openStore loads the KurrentDB store with a dynamic import: under mocha the specs are loaded as CommonJS, so
  // its classes are a second copy and `instanceof` cannot be used here; the name is checked instead.
  const connectionError = async (p: Promise<unknown>): Promise<StoreConnectionError> => {
    const err = await expectRejected(p, Error);
    expect(err.name, err.message).to.equal('StoreConnectionError');
    return err as StoreConnectionError;
  };

  it('a refused connection is a StoreConnectionError naming the URL, for every KurrentDB scheme', async () => {
    for (const url of ['kurrentdb://127.0.0.1:1?tls=false', 'kurrent://127.0.0.1:1?tls=false', 'kdb://127.0.0.1:1?tls=false',
      'kurrentdb+discover://127.0.0.1:1?tls=false&maxDiscoverAttempts=1&discoveryInterval=10']) {
      const err = await connectionError(openStore(url));
      expect(err.problem, url).to.equal('unreachable');
      expect(err.message).to.contain(url);
    }
    const direct = await expectRejected(KurrentDbEventStore.connect('kurrentdb://127.0.0.1:1?tls=false'), StoreConnectionError) as StoreConnectionError;
    expect(direct.problem).to.equal('unreachable');
    const creds = await connectionError(openStore('kurrentdb://admin:changeit@127.0.0.1:1?tls=false'));
    expect(creds.message).to.contain('admin:***@127.0.0.1:1').and.not.contain('changeit');
    const bad = await connectionError(openStore('kurrentdb://h:notaport'));
    expect(bad.problem).to.equal('bad-url');
  });

  it('the CLI reports an unreachable KurrentDB in one line naming the URL, exit 1, no stack', async () => {
    const check = (r: { code: number; stdout: string; stderr: string }) => {
      expect(r.code).to.equal(1);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.match(/^devrec: KurrentDB store kurrentdb:\/\/127\.0\.0\.1:1\?tls=false: no KurrentDB node answered/);
      expect(r.stderr).to.not.match(/\n\s+at /);
    };
    check(await devrec(['devices', '--store', 'kurrentdb://127.0.0.1:1?tls=false']));
    // as a real process too: the gRPC client must not keep it alive after the error
    check(await devrecProcess(['devices'], '', { DEVREC_STORE: 'kurrentdb://127.0.0.1:1?tls=false' }));
  });
});
