"""The host path: a model of a Tenstorrent device that runs the unchanged TTNN tree without a card.

- device: the modelled chips (grid, L1, DRAM, clocks) and the HostDevice that stands in for one;
- tensor: the HostTensor that stands in for a device tensor (values, or shapes alone in a dry run);
- binding: each call bound against the op's real C++ signature;
- rules: the dtype, layout and shape rules of each op;
- resources: the circular buffers and work split each op's program would have, against the L1 budget;
- memory: buffer sizes in DRAM and L1, and the live buffers of a device;
- goldens, executor: computing an op on host values (Tenstorrent's golden functions), or on shapes alone;
- numerics: what the Tensix hardware computes for an op ("device" numerics), beside the golden ("exact");
- timing: the predicted device time of each op; pricing: that time quoted for a call before it is made;
- trace, transfers: trace capture and replay on two command queues, and host <-> device copies.
"""
