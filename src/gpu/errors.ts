/** Errors the engine raises on purpose: each names the problem and, where there is one, the fix. */
export class FlowGpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlowGpuError';
  }
}

export const NO_BROWSER_ADAPTER_HELP =
  'This browser exposes navigator.gpu but offered no WebGPU adapter. Enable WebGPU: Chrome/Edge 113+ ' +
  'on a supported GPU, or start Chromium with --enable-unsafe-webgpu (on Linux also check that a Vulkan ' +
  'driver is installed; headless machines without a GPU can use SwiftShader with --enable-unsafe-swiftshader).';

export const NO_ADAPTER_HELP =
  'No WebGPU adapter was found. flowgpu needs a GPU driver with Vulkan (Linux), Metal (macOS) or ' +
  'D3D12 (Windows). On a Linux machine without a GPU install Mesa\'s software Vulkan driver, ' +
  'lavapipe, version 23 or newer: on Debian 12 run `bash scripts/install-vulkan.sh` from the flowgpu ' +
  'checkout (it enables bookworm-backports and installs mesa-vulkan-drivers and libvulkan1); on ' +
  'Ubuntu 24.04 or Debian 13 `apt-get install mesa-vulkan-drivers libvulkan1`. In a browser, use one ' +
  'with WebGPU enabled (Chrome/Edge 113+, or --enable-unsafe-webgpu).';
