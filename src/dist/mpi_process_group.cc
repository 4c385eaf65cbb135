#include "dist/mpi_process_group.h"

#include <fmt/core.h>
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace quip {
namespace {

// MPI counts are int: larger messages go as chunks of this many elements.
constexpr int64_t kMaxChunk = int64_t{1} << 30;

class MpiProcessGroup final : public ProcessGroup {
 public:
  MpiProcessGroup() {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiProcessGroup() override { MPI_Finalize(); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  // Point to point, each message straight from its vector into the receiving one: no packed
  // copies of everything sent and received (MPI_Alltoallv's contiguous buffers), which doubled
  // the moments' memory during an exchange.
  std::vector<std::vector<double>> AllToAll(std::vector<std::vector<double>> to_rank) override {
    const size_t n = static_cast<size_t>(size_);
    std::vector<int64_t> send_counts(n), recv_counts(n);
    for (int r = 0; r < size_; ++r) {
      send_counts[r] = int64_t(to_rank[r].size());
      if (r != rank_) bytes_sent_ += send_counts[r] * int64_t(sizeof(double));
    }
    MPI_Alltoall(send_counts.data(), 1, MPI_INT64_T, recv_counts.data(), 1, MPI_INT64_T, MPI_COMM_WORLD);
    std::vector<std::vector<double>> out(n);
    out[rank_] = std::move(to_rank[rank_]);
    std::vector<MPI_Request> requests;
    // Chunks of one pair go in order (MPI does not let messages of one source and tag overtake).
    auto post = [&](double* data, int64_t count, int peer, bool send) {
      for (int64_t at = 0; at < count; at += kMaxChunk) {
        MPI_Request& q = requests.emplace_back();
        const int chunk = int(std::min(kMaxChunk, count - at));
        if (send) MPI_Isend(data + at, chunk, MPI_DOUBLE, peer, 0, MPI_COMM_WORLD, &q);
        else MPI_Irecv(data + at, chunk, MPI_DOUBLE, peer, 0, MPI_COMM_WORLD, &q);
      }
    };
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      out[r].resize(size_t(recv_counts[r]));
      post(out[r].data(), recv_counts[r], r, false);
      post(to_rank[r].data(), send_counts[r], r, true);
    }
    MPI_Waitall(int(requests.size()), requests.data(), MPI_STATUSES_IGNORE);
    return out;
  }

  std::vector<std::vector<double>> AllGather(std::vector<double> mine) override {
    std::vector<std::vector<double>> to_rank(static_cast<size_t>(size_), mine);
    return AllToAll(std::move(to_rank));
  }

  void Broadcast(std::vector<uint8_t>& bytes, int root) override {
    int64_t size = int64_t(bytes.size());
    MPI_Bcast(&size, 1, MPI_INT64_T, root, MPI_COMM_WORLD);
    bytes.resize(size_t(size));
    for (int64_t at = 0; at < size; at += kMaxChunk)
      MPI_Bcast(bytes.data() + at, int(std::min(kMaxChunk, size - at)), MPI_BYTE, root, MPI_COMM_WORLD);
    if (rank_ == root) bytes_sent_ += size * (size_ - 1);  // as a flat broadcast: the tree's total
  }

  int64_t bytes_sent() const override { return bytes_sent_; }

 private:
  int rank_ = 0, size_ = 1;
  int64_t bytes_sent_ = 0;
};

}  // namespace

std::unique_ptr<ProcessGroup> MakeMpiProcessGroup() { return std::make_unique<MpiProcessGroup>(); }

void AbortAllRanks(const std::string& message) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  fmt::print(stderr, "quip: error: rank {}: {}\n", rank, message);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

}  // namespace quip
