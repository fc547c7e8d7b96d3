// RAII owners for libbpf objects: a skeleton, a bpf_link, a ring buffer. Each destroys its
// object exactly once; declaring links after the skeleton they belong to makes them go
// first, which is the order libbpf wants (detach, then free programs and maps).
#pragma once

#include <bpf/libbpf.h>

#include <memory>

namespace syschaos {

struct BpfLinkDestroy {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
// An attached BPF program; destroying it detaches the program.
using BpfLink = std::unique_ptr<bpf_link, BpfLinkDestroy>;

struct RingBufferFree {
  void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
};
using RingBuffer = std::unique_ptr<ring_buffer, RingBufferFree>;

// A bpftool skeleton (`struct X_bpf`) together with its X_bpf__destroy function.
template <typename Skeleton, void (*Destroy)(Skeleton*)>
struct SkeletonDestroy {
  void operator()(Skeleton* skeleton) const { Destroy(skeleton); }
};
template <typename Skeleton, void (*Destroy)(Skeleton*)>
using BpfSkeleton = std::unique_ptr<Skeleton, SkeletonDestroy<Skeleton, Destroy>>;

}  // namespace syschaos
