// The processes one quantization runs on: this one alone (the default), or the ranks of
// `mpirun -np N quip quantize ...` (src/dist/mpi_process_group.h, built with -DQUIP_MPI=ON).
// QuantizeModel splits the calibration windows and the rounding among them through these
// collectives; every rank calls each one in the same order.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "pipeline/window_sum.h"

namespace quip {

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // to_rank[r] goes to rank r; returns what every rank sent to this one, by rank.
  virtual std::vector<std::vector<double>> AllToAll(std::vector<std::vector<double>> to_rank) = 0;
  // Every rank's `mine`, by rank.
  virtual std::vector<std::vector<double>> AllGather(std::vector<double> mine) = 0;
  // Makes `bytes` root's on every rank.
  virtual void Broadcast(std::vector<uint8_t>& bytes, int root) = 0;
  // Bytes this rank has sent to others so far.
  virtual int64_t bytes_sent() const = 0;
};

// This process alone: every collective hands back its input.
ProcessGroup& SingleProcess();

// The sum over all windows of flat per-window vectors (all of one length), from each rank's
// maximal nodes of its WindowRange, added up in the tree of pipeline/window_sum.h, so every
// element's bits are those of the single-process sum. A reduce-scatter then an all-gather:
// rank s adds up elements [s·n/R, (s+1)·n/R) of every node, then all ranks gather the slices.
// Per rank it sends about twice the vector (one slice of each node it holds, then its slice
// to everyone else), as a ring all-reduce does. Consumes `mine`.
std::vector<double> SumAcrossProcesses(ProcessGroup& group, std::map<WindowNode, std::vector<double>>& mine,
                                       int64_t windows);

// The same sum, same bits, delivered only to the ranks in `receivers` (ascending, non-empty):
// a reduce (to several roots) instead of an all-reduce. After the same reduce-scatter each
// rank sends its slice to the receivers only; the others return an empty vector, so no rank
// but a receiver ever holds the whole sum (a non-receiver holds its own nodes, then one slice).
// Per rank it sends one slice of each node it holds, and its slice to each other receiver.
std::vector<double> SumToProcesses(ProcessGroup& group, std::map<WindowNode, std::vector<double>>& mine,
                                   int64_t windows, const std::vector<int>& receivers);

// Which rank rounds each of a stage's linears, from their costs (rounding flops): the most
// costly first, each to the rank with the least cost so far (the lowest rank on ties). A
// stage waits for its slowest rank, and linears that share an input tend to share a rank, so
// that input's moments reach fewer ranks (SumToProcesses). The same on every rank.
std::vector<int> AssignToProcesses(const std::vector<double>& costs, int ranks);

}  // namespace quip
