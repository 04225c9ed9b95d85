// Driver sessions: a device reset starts one (virtio 1.x 3.1.1 step 1: each driver that takes the device over
// resets it first). What each session's driver did, and its name when a fingerprint (src/model/driver-fingerprints.ts)
// matches every sign: on a PC, SeaBIOS drives virtio-blk in a session before the OS driver's.
import type { DeviceEvent } from '../../events/types.js';
import { DRIVER_FINGERPRINTS, type DriverFingerprint } from '../../model/driver-fingerprints.js';

export interface DriverSession {
  /** 0 before the first reset in the log, n after the n-th */
  session: number;
  /** revision of the reset that started it (null for session 0) */
  start: number | null;
  /** the driver, when a fingerprint matched; null: unknown */
  driver: string | null;
  role: DriverFingerprint['role'] | null;
  /** the signs that named it, in words (null when unnamed) */
  evidence: string | null;
}

interface Seen {
  session: number;
  start: number | null;
  firstStatus: number | null;
  /** driver feature bits written in the session (every word the driver wrote) */
  features: bigint;
  handedOver: boolean;
}

export function isDeviceReset(event: DeviceEvent): boolean {
  const b = event.body;
  return (b.kind === 'statusWritten' && b.status === 0) || (b.kind === 'resetRequested' && b.scope === 'device-reset');
}

export class DriverSessions {
  private readonly seen: Seen[] = [{ session: 0, start: null, firstStatus: null, features: 0n, handedOver: false }];
  /** the previous event was a reset too (a status write of 0 and the reset it requests are one reset) */
  private afterReset = false;

  /** the current session number */
  get session(): number {
    return this.seen.length - 1;
  }

  get sessionStart(): number | null {
    return this.seen[this.seen.length - 1]!.start;
  }

  step(event: DeviceEvent): void {
    const reset = isDeviceReset(event);
    if (reset && !this.afterReset) {
      this.seen[this.seen.length - 1]!.handedOver = true;
      this.seen.push({ session: this.seen.length, start: event.revision, firstStatus: null, features: 0n, handedOver: false });
    }
    this.afterReset = reset;
    const cur = this.seen[this.seen.length - 1]!;
    const b = event.body;
    if (b.kind === 'statusWritten' && b.status !== 0 && cur.firstStatus === null) cur.firstStatus = b.status;
    else if (b.kind === 'driverFeatures') {
      // only the first 64 bits matter to the fingerprints
      if (b.select === undefined) cur.features |= b.value;
      else if (b.select < 2) cur.features |= (b.value & 0xffffffffn) << BigInt(32 * b.select);
    }
  }

  /** Every session so far, named where a fingerprint matches (a session still open is never "handed over"). */
  list(): DriverSession[] {
    return this.seen.map((s) => {
      const fp = s.start === null ? undefined : DRIVER_FINGERPRINTS.find((f) => matches(f, s));
      return {
        session: s.session, start: s.start, driver: fp?.driver ?? null, role: fp?.role ?? null,
        evidence: fp ? `first status write ${hex(fp.firstStatus)} after its reset, no feature of ${hex(fp.neverAccepts)} accepted${fp.handedOver ? ', then reset by the next driver' : ''} (${fp.reference})` : null,
      };
    });
  }
}

function matches(f: DriverFingerprint, s: Seen): boolean {
  return s.firstStatus === f.firstStatus && (s.features & f.neverAccepts) === 0n && (!f.handedOver || s.handedOver);
}

const hex = (v: number | bigint): string => '0x' + v.toString(16);

/** A finding's driver session in words: its number, its driver when named, and the reset that began it. */
export function sessionWords(f: { session: number; sessionStart: number | null; sessionDriver: string | null }): string {
  const driver = f.sessionDriver ? ` (${f.sessionDriver})` : ', driver unknown';
  return `session ${f.session}${driver}${f.sessionStart !== null ? `, from the reset at #${f.sessionStart}` : ', before any reset'}`;
}
