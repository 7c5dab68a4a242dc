// The CPU's peak float32 FLOP rate, derived from /proc/cpuinfo (and cpufreq where the kernel
// exposes it), with where each factor came from, for bench:train's model FLOP utilisation:
//   peak = cores × FMA pipes per core × fp32 lanes per pipe × 2 FLOP per FMA × clock;
// and for bf16 products: twice that with avx512_bf16 (vdpbf16ps: two bfloat16 multiply-adds per
// fp32 lane per instruction), 16 times with AMX (Intel's nominal 1024 bfloat16 FLOP per cycle per
// core for the tiles, against 64 for AVX-512 fp32 FMAs; not measured here), else the same.
// The FMA pipes and their width are not in cpuinfo: they come from the table below, by vendor and
// family, checked against the vector flags (avx512f, avx2, fma). The clock is cpufreq's maximum
// where the kernel has it; in a VM without it, the larger of cpuinfo's nominal clock and one
// measured from a chain of dependent float operations whose latency is known (AMD Zen).
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface CpuPeak {
  /** Peak GFLOP/s of one physical core. */
  perCoreGflops: number;
  physicalCores: number;
  /** One line per factor, saying where it came from. */
  derivation: string[];
  /** Set when --peak-gflops overrode the derived rate. */
  override?: number;
  /** bf16 products' peak over float32's: 16 with AMX, 2 with AVX512-BF16, else 1. */
  bf16Factor: number;
}

function field(block: string, name: string): string | undefined {
  return new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(block)?.[1]?.trim();
}

/** FMA pipes per core and fp32 lanes per pipe, by vendor/family/flags, with the reason. */
function vectorUnits(vendor: string, family: number, model: number, flags: Set<string>): { pipes: number; lanes: number; why: string } {
  const avx512 = flags.has('avx512f'), avx2 = flags.has('avx2') && flags.has('fma');
  if (vendor === 'AuthenticAMD') {
    if (family >= 26) return { pipes: 2, lanes: avx512 ? 16 : 8, why: `AMD family ${family} (Zen 5): 2 FMA pipes, ${avx512 ? '512' : '256'}-bit` };
    if (family === 25)
      return { pipes: 2, lanes: 8, why: `AMD family 25 (Zen 3/Zen 4): 2 FMA pipes, 256-bit datapath${avx512 ? ' (Zen 4 runs AVX-512 as two 256-bit halves)' : ''}` };
    if (family === 23) return model >= 0x30 ? { pipes: 2, lanes: 8, why: 'AMD family 23 model >= 0x30 (Zen 2): 2 FMA pipes, 256-bit' } : { pipes: 2, lanes: 4, why: 'AMD family 23 (Zen/Zen+): 2 FMA pipes, 128-bit' };
  }
  if (vendor === 'GenuineIntel' && avx512)
    return { pipes: 2, lanes: 16, why: 'Intel with AVX-512: assumed 2 FMA pipes of 512 bits (server cores; some Xeon Silver/Bronze have 1: pass --peak-gflops)' };
  if (avx2) return { pipes: 2, lanes: 8, why: `${vendor} with AVX2/FMA: assumed 2 FMA pipes of 256 bits` };
  return { pipes: 1, lanes: 4, why: `${vendor}: no AVX2/FMA flags; assumed one 128-bit pipe (pass --peak-gflops)` };
}

/** The derived peak, or `override` GFLOP/s for all physical cores where given. */
export function cpuPeak(override?: number): CpuPeak {
  let info = '';
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // not Linux
  }
  const first = info.split(/\n\s*\n/)[0] ?? '';
  const logical = (info.match(/^processor\s*:/gm) ?? []).length || os.cpus().length;
  const siblings = Number(field(first, 'siblings')), coresPerSocket = Number(field(first, 'cpu cores'));
  const threadsPerCore = siblings > 0 && coresPerSocket > 0 ? siblings / coresPerSocket : 1;
  const physicalCores = Math.max(1, Math.round(logical / threadsPerCore));
  const derivation = [
    `cores: ${physicalCores} physical (${logical} logical processors in /proc/cpuinfo, ${threadsPerCore} per core from 'siblings' / 'cpu cores'); a row on t threads counts min(t, ${physicalCores}) cores`,
  ];
  const flags = new Set((field(first, 'flags') ?? '').split(/\s+/));
  const bf16Factor = flags.has('amx_bf16') ? 16 : flags.has('avx512_bf16') ? 2 : 1;
  derivation.push(
    bf16Factor === 16
      ? "bf16 products: peak x16 (amx_bf16: Intel's nominal 1024 bfloat16 FLOP per cycle per core for AMX's tiles, against 64 for AVX-512 fp32 FMAs; not measured here)"
      : bf16Factor === 2
        ? 'bf16 products: peak x2 (avx512_bf16: two bfloat16 multiply-adds per fp32 lane per instruction)'
        : 'bf16 products: peak x1 (no avx512_bf16 or amx_bf16: the engine rounds to bfloat16 and multiplies at the fp32 rate)',
  );
  if (override !== undefined) {
    derivation.push(`peak: ${override} GFLOP/s for all ${physicalCores} cores, as given by --peak-gflops`);
    return { perCoreGflops: override / physicalCores, physicalCores, derivation, override, bf16Factor };
  }
  const vendor = field(first, 'vendor_id') ?? 'unknown vendor';
  const family = Number(field(first, 'cpu family') ?? NaN), model = Number(field(first, 'model') ?? NaN);
  const units = vectorUnits(vendor, family, model, flags);
  const nominal = Number(field(first, 'cpu MHz')) / 1000;
  let ghz = NaN, clockSource = '';
  try {
    ghz = Number(readFileSync('/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq', 'utf8').trim()) / 1e6;
    clockSource = 'the maximum (boost) clock, /sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq';
  } catch {
    // No cpufreq (as in a VM): /proc/cpuinfo's 'cpu MHz' is then the nominal clock, and the cores
    // may run faster. Where the latency of a float multiply and add is known, the running clock is
    // measured from a dependent chain of them; the larger of the two is taken.
    const latency = vendor === 'AuthenticAMD' && family >= 23 ? 6 : null;
    const measured = latency ? measuredClockGhz(latency) : NaN;
    if (measured > nominal || !(nominal > 0)) {
      ghz = measured;
      clockSource =
        `measured: a dependent chain x = x·a + b in float64, ${latency} cycles a step on AMD family ${family} (FMUL 3 + FADD 3 cycles of latency), best of 20 runs of 2e7 steps; ` +
        `/proc/cpuinfo 'cpu MHz' says ${nominal.toFixed(3)} (the nominal clock: no cpufreq in /sys, as in a VM)`;
    } else {
      ghz = nominal;
      clockSource = `/proc/cpuinfo 'cpu MHz' (no cpufreq in /sys, as in a VM: the nominal clock${latency ? `; a measured ${measured.toFixed(3)} GHz was lower` : '; a higher boost clock would make the true peak higher and MFU lower'})`;
    }
  }
  if (!(ghz > 0)) {
    ghz = (os.cpus()[0]?.speed ?? 0) / 1000;
    clockSource = 'os.cpus() speed';
  }
  derivation.push(
    `CPU: ${field(first, 'model name') ?? os.cpus()[0]?.model ?? 'unknown'}, ${vendor} family ${family} model ${model}; flags: ${['avx512f', 'avx2', 'fma'].filter((f) => flags.has(f)).join(', ') || 'none of avx512f, avx2, fma'}`,
    `FMA: ${units.pipes} pipes x ${units.lanes} fp32 lanes per core (${units.why}; the table in benchmarks/src/cpu-peak.ts), 2 FLOP per FMA`,
    `clock: ${ghz.toFixed(3)} GHz from ${clockSource}`,
  );
  const perCoreGflops = units.pipes * units.lanes * 2 * ghz;
  derivation.push(`peak: ${perCoreGflops.toFixed(1)} GFLOP/s per core, ${(perCoreGflops * physicalCores).toFixed(1)} for all ${physicalCores} cores (override with --peak-gflops)`);
  return { perCoreGflops, physicalCores, derivation, bf16Factor };
}

/**
 * The clock in GHz from a dependent chain of float64 multiply-adds (V8 compiles x·a + b to a
 * multiply and an add, not an FMA) taking `cycles` cycles a step: best of 20 runs, since a run
 * the scheduler interrupts only reads slower.
 */
function measuredClockGhz(cycles: number): number {
  const a = Number(process.env.W2S_CLOCK_PROBE_A ?? '0.999999'), b = Number(process.env.W2S_CLOCK_PROBE_B ?? '1e-7'); // opaque to the JIT
  const chain = (n: number) => {
    let x = 1.0;
    for (let i = 0; i < n; i++) x = x * a + b;
    return x;
  };
  let sink = chain(1e6), best = 0;
  for (let r = 0; r < 20; r++) {
    const n = 2e7, t0 = process.hrtime.bigint();
    sink += chain(n);
    best = Math.max(best, n / (Number(process.hrtime.bigint() - t0) / 1e9));
  }
  return Number.isNaN(sink) ? NaN : (cycles * best) / 1e9;
}

/** The peak of a row on `threads` threads whose matrix products run at `precision`. */
export function peakGflops(peak: CpuPeak, threads: number, precision: Precision = 'float32'): number {
  return peak.perCoreGflops * Math.min(threads, peak.physicalCores) * (precision === 'bf16' ? peak.bf16Factor : 1);
}

/** The arithmetic of a row's matrix products: float32, or bfloat16 inputs with float32 sums. */
export type Precision = 'float32' | 'bf16';
