// The --device and --precision options of the commands that train or evaluate: where this
// process's native models live (GPU 0 for cuda) and the arithmetic of their matrix products (and,
// on cuda, attention). A device that cannot be used fails the command at once, with the reason.
import { Option, type Command } from 'commander';
import { computeDeviceProblem, setComputeDevice, type ComputeDevice } from '@w2s/model';

export interface DeviceFlags {
  device: 'cpu' | 'cuda';
  precision: 'float32' | 'tf32' | 'bf16';
}

export function addDeviceOptions(command: Command): Command {
  return command
    .addOption(new Option('--device <device>', 'where models train and evaluate: cpu, or cuda (GPU 0)').choices(['cpu', 'cuda']).default('cpu'))
    .addOption(
      new Option(
        '--precision <precision>',
        'float32; bf16: matrix products on bfloat16-rounded inputs with float32 sums and float32 master weights (CPU: the products only, 2x faster on oneDNN with AVX512-BF16 or AMX; cuda: tensor cores, attention too); tf32: cuda tensor cores',
      )
        .choices(['float32', 'tf32', 'bf16'])
        .default('float32'),
    );
}

/** Sets the device of the models this process creates; throws the reason when it cannot be used. */
export function useDevice(flags: DeviceFlags): void {
  const device: ComputeDevice = { device: flags.device, precision: flags.precision };
  const problem = computeDeviceProblem(device);
  if (problem) throw new Error(`--device ${flags.device}${flags.precision === 'float32' ? '' : ` --precision ${flags.precision}`}: ${problem}`);
  setComputeDevice(device);
}

/** The flags that give a child process the same device. */
export function deviceArgs(flags: DeviceFlags): string[] {
  return ['--device', flags.device, '--precision', flags.precision];
}
