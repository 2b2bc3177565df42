// The lower bounds of a search's slices on the GPU, for one or several design points at once:
// launch 1 one thread per layer-sum job and point (layer_sums_thread; one per job for all the
// points where they share their GPU models), launch 2 one thread per
// slice and point (slice_bound_thread), the NEST_HD bodies the CPU backend and the grid emulator
// run (dp/lower_bound.hpp). The tables (graphs, framework settings, the points' GPU models and
// communication contexts) and the sums stay on the device; jobs and slices go up in parts that
// fit the memory budget, so a batch goes up once for all its points.
#include <algorithm>

#include "batch.cuh"
#include "nest/kernels/cuda/dp_backend.hpp"
#include "nest/kernels/dp/lower_bound.hpp"

namespace nest::kernels::cuda {

namespace {

__global__ void layer_sums_kernel(dp::BoundArrays a) { dp::layer_sums_thread(this_thread(), a); }

__global__ void slice_bounds_kernel(dp::BoundArrays a) { dp::slice_bound_thread(this_thread(), a); }

std::size_t budget_of(std::size_t memory_limit) {
  if (memory_limit > 0) return memory_limit;
  size_t free_b = 0, total_b = 0;
  NEST_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return static_cast<std::size_t>(dp::kDefaultDeviceMemoryShare * static_cast<double>(free_b));
}

}  // namespace

std::vector<dp::SliceBounds> lower_bounds_on_device(const dp::BoundBatch& batch, const std::vector<dp::BoundPointTables>& points,
                                                    std::size_t memory_limit, UniformBatchStats* stats) {
  const std::size_t np = points.size();
  std::vector<dp::SliceBounds> out(np);
  const std::size_t jobs = batch.jobs.size(), slices = batch.slices.size();
  for (dp::SliceBounds& o : out) {
    o.bound.resize(slices);
    o.hopeless.resize(slices);
  }
  if (slices == 0 || np == 0) return out;
  if (np > 65535) throw_bad_input("nest sweep", "more than 65,535 points share one search space");
  const dp::BoundPointsFlat flat = dp::flatten_points(points);
  const std::vector<dp::LayerSums> sums = dp::sums_rows(batch, static_cast<int>(np));
  const std::size_t resident = sizeof(LayerDims) * batch.dims.size() + batch.repeats.size() +
                               sizeof(dp::BoundGraph) * batch.graphs.size() + sizeof(GpuModel) * flat.gpus.size() +
                               sizeof(CommContext) * flat.comms.size() + sizeof(TrainingSettings) * batch.settings.size() +
                               2 * sizeof(int) * np + sizeof(dp::LayerSums) * sums.size();
  const std::size_t budget = budget_of(memory_limit);
  const std::size_t per_slice = sizeof(dp::SliceBoundInput) + (sizeof(double) + 1) * np;
  // Room for at least one job and one slice next to the tables.
  if (budget < resident + sizeof(dp::LayerSumJob) + per_slice)
    throw_bad_input("--gpu-mem-limit", std::to_string(budget) + " bytes cannot hold the lower bounds' tables (" +
                                           std::to_string(resident + sizeof(dp::LayerSumJob) + per_slice) + " bytes)");
  const std::size_t room = budget - resident;
  const std::size_t jobs_per_part = std::max<std::size_t>(1, std::min(jobs, room / sizeof(dp::LayerSumJob)));
  const std::size_t slices_per_part = std::max<std::size_t>(1, std::min(slices, room / per_slice));

  DeviceBuffers buf;
  dp::BoundArrays a;
  auto* d_dims = buf.add<LayerDims>(batch.dims.size());
  auto* d_repeats = buf.add<unsigned char>(batch.repeats.size());
  auto* d_graphs = buf.add<dp::BoundGraph>(batch.graphs.size());
  auto* d_gpus = buf.add<GpuModel>(flat.gpus.size());
  auto* d_comms = buf.add<CommContext>(flat.comms.size());
  auto* d_settings = buf.add<TrainingSettings>(batch.settings.size());
  auto* d_gpu_base = buf.add<int>(np);
  auto* d_comm_base = buf.add<int>(np);
  auto* d_sums = buf.add<dp::LayerSums>(sums.size());
  to_device(d_dims, batch.dims.data(), batch.dims.size());
  to_device(d_repeats, batch.repeats.data(), batch.repeats.size());
  to_device(d_graphs, batch.graphs.data(), batch.graphs.size());
  to_device(d_gpus, flat.gpus.data(), flat.gpus.size());
  to_device(d_comms, flat.comms.data(), flat.comms.size());
  to_device(d_settings, batch.settings.data(), batch.settings.size());
  to_device(d_gpu_base, flat.gpu_base.data(), np);
  to_device(d_comm_base, flat.comm_base.data(), np);
  to_device(d_sums, sums.data(), sums.size());  // the given ones
  a.dims = d_dims;
  a.repeats = d_repeats;
  a.graphs = d_graphs;
  a.gpus = d_gpus;
  a.comms = d_comms;
  a.settings = d_settings;
  a.num_points = static_cast<int>(np);
  a.gpu_base = d_gpu_base;
  a.comm_base = d_comm_base;
  a.job_stride = static_cast<long long>(jobs);
  a.shared_gpus = dp::same_gpu_models(flat) ? 1 : 0;
  LaunchTimer timer;
  double seconds = 0;
  int launches = 0;
  if (jobs > 0) {
    auto* d_jobs = buf.add<dp::LayerSumJob>(jobs_per_part);
    for (std::size_t start = 0; start < jobs; start += jobs_per_part) {
      const std::size_t n = std::min(jobs_per_part, jobs - start);
      to_device(d_jobs, batch.jobs.data() + start, n);
      a.jobs = d_jobs;
      a.num_jobs = static_cast<int>(n);
      a.sums = d_sums + start;  // row q of the part: d_sums[q * jobs + start + j]
      const GridShape g = dp::bound_grid(a.num_jobs, dp::layer_sums_points(a));
      timer.start();
      layer_sums_kernel<<<as_dim3(g.grid), as_dim3(g.block), 0, batch_stream()>>>(a);
      NEST_CUDA_CHECK(cudaGetLastError());
      seconds += timer.stop();
      ++launches;
    }
  }
  a.jobs = nullptr;
  a.num_jobs = 0;
  a.sums = d_sums;
  auto* d_slices = buf.add<dp::SliceBoundInput>(slices_per_part);
  auto* d_bounds = buf.add<double>(slices_per_part * np);
  auto* d_hopeless = buf.add<unsigned char>(slices_per_part * np);
  for (std::size_t start = 0; start < slices; start += slices_per_part) {
    const std::size_t n = std::min(slices_per_part, slices - start);
    to_device(d_slices, batch.slices.data() + start, n);
    a.slices = d_slices;
    a.num_slices = static_cast<int>(n);
    a.slice_stride = static_cast<long long>(n);  // row q of the part's bounds: q * n + s
    a.bounds = d_bounds;
    a.hopeless = d_hopeless;
    const GridShape g = dp::bound_grid(a.num_slices, a.num_points);
    timer.start();
    slice_bounds_kernel<<<as_dim3(g.grid), as_dim3(g.block), 0, batch_stream()>>>(a);
    NEST_CUDA_CHECK(cudaGetLastError());
    seconds += timer.stop();
    ++launches;
    for (std::size_t q = 0; q < np; ++q) {
      to_host(out[q].bound.data() + start, d_bounds + q * n, n);
      to_host(out[q].hopeless.data() + start, d_hopeless + q * n, n);
    }
  }
  if (stats) {
    stats->kernel_seconds += seconds;
    stats->launches += launches;
  }
  return out;
}

}  // namespace nest::kernels::cuda
