// Protocol facts about virtio: device types, feature bits, status bits.
export * from './device-types.js';
export * from './features.js';
export * from './status.js';
export * from './transports.js';
