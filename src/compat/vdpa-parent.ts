// What a target vDPA parent offers (from `vdpa -jp mgmtdev show` + `vdpa -jp dev show`), and the kernel's answer
// to a planned `vdpa dev add` on it, predicted before the command is tried. The checks run in the order
// vdpa_nl_cmd_dev_add_set_doit (drivers/vdpa/vdpa.c) makes them, as measured on Linux 6.12: attribute values
// first, then the management device, then the parent's config_attr_mask, then the parent's own dev_add.
import { hex64 } from '../events/json.js';
import { missingAttributeFeatures, VDPA_ADD_REFUSALS, VDPA_ATTRIBUTES, vdpaParent } from '../model/vdpa.js';
import type { MgmtdevInfo, PlannedAdd, VdpaDevInfo } from '../sources/vdpa-cli.js';

export const VDPA_PARENT_PROFILE_KIND = 'devrec-vdpa-parent-profile';

export interface VdpaParentProfile {
  kind: typeof VDPA_PARENT_PROFILE_KIND;
  version: 1;
  mgmtdevs: {
    name: string;
    supportedClasses: string[];
    maxSupportedVqs: number | null;
    /** dev_features as `vdpa mgmtdev show` printed them; null when not printed */
    devFeatureNames: string[] | null;
    /** the attributes `vdpa dev add` may give (1 << VDPA_ATTR_*), null when devrec does not know this parent */
    configAttrMask: string | null;
    configAttrMaskSource: string | null;
  }[];
  /** vDPA devices that exist (their names cannot be added again) */
  devices: { name: string; type: string; mgmtdev: string }[];
  /** VDUSE devices user space has created (/dev/vduse/*), null when not listed */
  vduseDevices: string[] | null;
}

export function buildParentProfile(mgmts: MgmtdevInfo[], devs: VdpaDevInfo[], vduseDevices: string[] | null): VdpaParentProfile {
  return {
    kind: VDPA_PARENT_PROFILE_KIND,
    version: 1,
    mgmtdevs: mgmts.map((m) => {
      const facts = vdpaParent(m.name);
      return {
        name: m.name, supportedClasses: m.supportedClasses, maxSupportedVqs: m.maxSupportedVqs, devFeatureNames: m.devFeatureNames,
        configAttrMask: facts ? hex64(facts.configAttrMask) : null, configAttrMaskSource: facts?.source ?? null,
      };
    }),
    devices: devs.map((d) => ({ name: d.name, type: d.type, mgmtdev: d.mgmtdev })),
    vduseDevices,
  };
}

export class ParentProfileError extends Error {}

/** Checks the shape of a parent profile read from JSON. */
export function readParentProfile(json: unknown): VdpaParentProfile {
  const o = json as Partial<VdpaParentProfile> | null;
  if (!o || typeof o !== 'object' || o.kind !== VDPA_PARENT_PROFILE_KIND) throw new ParentProfileError(`not a vDPA parent profile (no "kind": "${VDPA_PARENT_PROFILE_KIND}"); make one with \`devrec vdpa profile\``);
  if (o.version !== 1) throw new ParentProfileError(`parent profile version ${String(o.version)} is not 1`);
  if (!Array.isArray(o.mgmtdevs) || !Array.isArray(o.devices)) throw new ParentProfileError('parent profile has no "mgmtdevs" or "devices" list');
  for (const m of o.mgmtdevs) {
    if (typeof m?.name !== 'string') throw new ParentProfileError('a mgmtdev has no name');
    if (m.configAttrMask !== null && !/^0x[0-9a-f]+$/i.test(String(m.configAttrMask))) throw new ParentProfileError(`mgmtdev "${m.name}": configAttrMask ${JSON.stringify(m.configAttrMask)} is not a hex mask or null`);
  }
  if (o.vduseDevices !== null && !Array.isArray(o.vduseDevices)) throw new ParentProfileError('"vduseDevices" is not a list or null');
  return o as VdpaParentProfile;
}

export interface AddPrediction {
  /** refused: the kernel will refuse, with this message; accepted: no check devrec knows refuses it; unknown: a check devrec cannot make */
  verdict: 'refused' | 'accepted' | 'unknown';
  /** the kernel's netlink message (extack), '' when it gives none */
  message: string;
  /** the error the kernel answers with (strerror) */
  errno: string;
  /** which kernel check, and where it is */
  source: string;
  /** checks devrec could not make, and what would let it */
  notes: string[];
}

function refused(r: { message: (m: bigint) => string; errno: string; source: string }, mask: bigint, notes: string[]): AddPrediction {
  return { verdict: 'refused', message: r.message(mask), errno: r.errno, source: r.source, notes };
}

export function predictDevAdd(add: PlannedAdd, target: VdpaParentProfile): AddPrediction {
  const notes: string[] = [];
  const R = VDPA_ADD_REFUSALS;
  if (add.maxVqpGiven && add.maxVqp === 0) return refused(R.noQueuePairs, 0n, notes);
  const missing = missingAttributeFeatures(add);
  if (missing) return refused(R.missingFeatures, missing, notes);
  const mgmt = target.mgmtdevs.find((m) => m.name === add.mgmtdev);
  if (!mgmt) return refused(R.noMgmtdev, 0n, notes);
  const given = VDPA_ATTRIBUTES.filter((a) => add[`${a.field}Given`]);
  const givenMask = given.reduce((m, a) => m | (1n << BigInt(a.attrId)), 0n);
  if (mgmt.configAttrMask === null) {
    if (givenMask) notes.push(`the attributes management device "${mgmt.name}" takes are unknown to devrec (\`vdpa mgmtdev show\` does not print its config_attr_mask): ${given.map((a) => a.keyword).join(', ')} may be refused`);
  } else {
    const unsupported = givenMask & ~BigInt(mgmt.configAttrMask);
    if (unsupported) return refused(R.attributesNotSupported, unsupported, notes);
  }
  if (add.mgmtdev === 'vduse') {
    if (target.vduseDevices === null) notes.push('the VDUSE devices that exist are unknown (list /dev/vduse in the profile input): the name may be refused (Invalid argument)');
    else if (!target.vduseDevices.includes(add.name)) return refused(R.noVduseDevice, 0n, notes);
  }
  if (target.devices.some((d) => d.name === add.name)) return refused(R.exists, 0n, notes);
  return { verdict: notes.length ? 'unknown' : 'accepted', message: '', errno: '', source: '', notes };
}

/** The prediction as the `vdpa` tool would print the kernel's answer. */
export function predictionText(p: AddPrediction): string[] {
  if (p.verdict !== 'refused') return [p.verdict === 'accepted' ? 'the kernel takes this (no check devrec knows refuses it)' : 'cannot tell; see the notes', ...p.notes.map((n) => `note: ${n}`)];
  return [
    'refused:',
    ...(p.message ? [`  Error: ${p.message}`] : []),
    `  kernel answers: ${p.errno}`,
    `  why: ${p.source}`,
    ...p.notes.map((n) => `note: ${n}`),
  ];
}
