// CPU features and the instruction-set level the kernels run at. Chosen once at start-up:
// the best the CPU supports, or the one R1_ISA=scalar|avx2|avx512 forces (for tests).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace r1 {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512bf16 = false, avx512vnni = false, avxvnni = false;
};

const CpuFeatures& cpu_features();
Isa best_isa();                  // highest level this CPU runs
bool isa_supported(Isa isa);
std::string_view isa_name(Isa isa);
std::optional<Isa> isa_from_name(std::string_view name);
// Bytes of physical memory (0 if the system does not say).
uint64_t physical_memory_bytes();

}  // namespace r1
