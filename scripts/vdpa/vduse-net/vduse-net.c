/* A VDUSE virtio-net device made with DPDK's vhost library (librte_vhost, Debian 13 DPDK 24.11): it registers
 * /dev/vduse/NAME, which the kernel then offers to `vdpa dev add`. Only the control path runs (feature
 * negotiation, status, queue setup go through the VDUSE character device); no packet is forwarded.
 * Usage: vduse-net NAME DISABLE QUEUE_PAIRS [EAL options...]  (runs until killed)
 *   DISABLE: feature bits (hex) to take away from the library's offer before the device is created;
 *   QUEUE_PAIRS: the device's maximum queue pairs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <rte_eal.h>
#include <rte_vhost.h>

static int new_device(int vid) { printf("vduse-net: device %d ready\n", vid); fflush(stdout); return 0; }
static void destroy_device(int vid) { printf("vduse-net: device %d stopped\n", vid); fflush(stdout); }
static const struct rte_vhost_device_ops ops = { .new_device = new_device, .destroy_device = destroy_device };

int main(int argc, char **argv) {
	char path[128];
	uint64_t disable, features = 0;
	unsigned long pairs;
	if (argc < 4) { fprintf(stderr, "usage: vduse-net NAME DISABLE QUEUE_PAIRS [EAL options]\n"); return 2; }
	snprintf(path, sizeof(path), "/dev/vduse/%s", argv[1]);
	disable = strtoull(argv[2], NULL, 16);
	pairs = strtoul(argv[3], NULL, 10);
	argv[3] = argv[0];
	if (rte_eal_init(argc - 3, argv + 3) < 0) { fprintf(stderr, "vduse-net: rte_eal_init failed\n"); return 1; }
	if (rte_vhost_driver_register(path, 0) != 0) { fprintf(stderr, "vduse-net: rte_vhost_driver_register %s failed\n", path); return 1; }
	if (disable && rte_vhost_driver_disable_features(path, disable) != 0) { fprintf(stderr, "vduse-net: disable features failed\n"); return 1; }
	if (rte_vhost_driver_set_max_queue_num(path, pairs) != 0) { fprintf(stderr, "vduse-net: set_max_queue_num %lu failed\n", pairs); return 1; }
	rte_vhost_driver_get_features(path, &features);
	printf("vduse-net: offering features 0x%" PRIx64 ", %lu queue pair(s)\n", features, pairs); fflush(stdout);
	if (rte_vhost_driver_callback_register(path, &ops) != 0) { fprintf(stderr, "vduse-net: callback register failed\n"); return 1; }
	if (rte_vhost_driver_start(path) != 0) { fprintf(stderr, "vduse-net: rte_vhost_driver_start %s failed\n", path); return 1; }
	printf("vduse-net: %s created\n", path); fflush(stdout);
	for (;;) pause();
}
