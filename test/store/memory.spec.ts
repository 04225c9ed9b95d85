import { MemoryEventStore } from '../../src/store/memory.js';
import { eventStoreContract } from './contract.js';

eventStoreContract({ name: 'memory', create: async () => new MemoryEventStore() });
