// The ranks of `mpirun -np N quip quantize ...` as a ProcessGroup (pipeline/process_group.h).
// Built only with -DQUIP_MPI=ON (find_package(MPI)); the default build has no MPI.
#pragma once

#include <memory>
#include <string>

#include "pipeline/process_group.h"

namespace quip {

// Initialises MPI (once per process; finalised when the group is destroyed). Errors on
// MPI_COMM_WORLD abort the whole job instead of returning (MPI_ERRORS_ARE_FATAL), so a rank
// that dies, or fails, never leaves the others waiting in a collective.
std::unique_ptr<ProcessGroup> MakeMpiProcessGroup();

// Ends every rank: prints "quip: error: rank R: message" and calls MPI_Abort (status 1).
[[noreturn]] void AbortAllRanks(const std::string& message);

}  // namespace quip
