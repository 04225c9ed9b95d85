// Device configuration space decoded by field, from the layouts of src/model/device-config.ts. The output has the
// shape `vdpa -jp dev config show` users know: { mac: "52:54:00:12:34:56", status: 1, mtu: 1500, ... }.
//
// Known or unknown, never invented: a field whose bytes were not all seen is null; a field whose feature is not in
// effect is left out (not present); a field whose feature set is not known at all is null. Multi-byte fields of a
// legacy device are in the guest's byte order (virtio 1.3 2.5 / 4.1.4.10): when that order is not known they are
// null (single bytes, MACs and text read the same either way).
import { legacyNegotiated } from '../compat/check.js';
import { configLayout, type ConfigField, type DeviceConfigLayout } from '../model/device-config.js';
import type { DeviceState } from './state.js';

export type ByteOrder = 'little' | 'big';
export type ConfigValue = number | string | null;

export interface ConfigInput {
  /** config bytes from offset 0 */
  bytes: Uint8Array;
  /** which bytes are known (parallel to `bytes`, non-zero = known); absent: every byte of `bytes` is known */
  known?: Uint8Array;
  /**
   * The features that decide which fields exist: the negotiated set once the driver accepted one, else the
   * offered set; null when neither is known.
   */
  features: bigint | null;
  /** the device is used through the legacy interface */
  legacy: boolean;
  /** the guest's byte order (matters for legacy devices only); null when not known */
  guestByteOrder: ByteOrder | null;
}

export interface DecodedConfigField {
  field: ConfigField;
  /** the field's feature is in effect: true, false, or null when the feature set is not known */
  present: boolean | null;
  /** the value (null: unknown, or not present) */
  value: ConfigValue;
}

export interface DecodedConfig {
  layout: DeviceConfigLayout;
  /** byte order used for multi-byte fields, null when not known */
  byteOrder: ByteOrder | null;
  fields: DecodedConfigField[];
}

function has(features: bigint, bit: number): boolean {
  return ((features >> BigInt(bit)) & 1n) === 1n;
}

function fieldPresent(f: ConfigField, features: bigint | null): boolean | null {
  if (!f.features) return true;
  if (features === null) return null;
  return f.features.some((b) => has(features, b));
}

function bytesKnown(input: ConfigInput, f: ConfigField): boolean {
  if (input.bytes.length < f.offset + f.width) return false;
  if (!input.known) return true;
  for (let i = f.offset; i < f.offset + f.width; i++) if (!input.known[i]) return false;
  return true;
}

function readUint(b: Uint8Array, off: number, width: number, order: ByteOrder): number | string {
  let v = 0n;
  for (let i = 0; i < width; i++) {
    const byte = BigInt(b[order === 'little' ? off + width - 1 - i : off + i]!);
    v = (v << 8n) | byte;
  }
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

function readValue(input: ConfigInput, f: ConfigField, order: ByteOrder | null): ConfigValue {
  const b = input.bytes;
  switch (f.kind) {
    case 'mac':
      return [...b.subarray(f.offset, f.offset + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
    case 'text': {
      const raw = b.subarray(f.offset, f.offset + f.width);
      const nul = raw.indexOf(0);
      return Buffer.from(nul >= 0 ? raw.subarray(0, nul) : raw).toString('utf8');
    }
    case 'uint':
      if (f.width === 1) return b[f.offset]!;
      return order === null ? null : readUint(b, f.offset, f.width, order);
    case 'bits': {
      if (f.width > 1 && order === null) return null;
      const v = f.width === 1 ? b[f.offset]! : readUint(b, f.offset, f.width, order ?? 'little');
      return `0x${BigInt(v).toString(16)}`;
    }
  }
}

/** Decodes the config of a device type with a layout; undefined for types devrec has no layout for. */
export function decodeDeviceConfig(type: string, input: ConfigInput): DecodedConfig | undefined {
  const layout = configLayout(type);
  if (!layout) return undefined;
  const byteOrder: ByteOrder | null = !input.legacy || layout.legacyByteOrder === 'little' ? 'little' : input.guestByteOrder;
  const fields = layout.fields.map((field): DecodedConfigField => {
    const present = fieldPresent(field, input.features);
    const value = present === true && bytesKnown(input, field) ? readValue(input, field, byteOrder) : null;
    return { field, present, value };
  });
  return { layout, byteOrder, fields };
}

/** The JSON object: present fields by name (null when unknown); fields known not to be present are left out. */
export function configFieldsJson(d: DecodedConfig): Record<string, ConfigValue> {
  const out: Record<string, ConfigValue> = {};
  for (const f of d.fields) if (f.present !== false) out[f.field.name] = f.value;
  return out;
}

/** One line of text: `mac 52:54:00:de:0e:01, status 0x1, mtu ?` ("?" = unknown). */
export function configFieldsText(d: DecodedConfig): string {
  return d.fields
    .filter((f) => f.present !== false)
    .map((f) => `${f.field.name} ${f.value === null ? '?' : f.value}`)
    .join(', ');
}

/** The decoder's input from a projected state: the bytes and which of them a source saw (`configKnown`). */
export function configInputOf(s: DeviceState, guestByteOrder: ByteOrder | null = null): ConfigInput {
  const f = s.features;
  const features = f.negotiation === 'accepted' ? f.accepted : f.device;
  return { bytes: s.config, known: s.configKnown, features, legacy: legacyNegotiated(s), guestByteOrder };
}

export function decodeStateConfig(s: DeviceState, guestByteOrder: ByteOrder | null = null): DecodedConfig | undefined {
  return decodeDeviceConfig(s.type, configInputOf(s, guestByteOrder));
}
