/**
 * What the pages do when WebGPU is missing or goes away: a plain explanation naming the browsers
 * and flags that work, with pictures made beforehand instead of a blank canvas; and, when the GPU
 * device is lost mid-run, a banner that offers to restart.
 */

/** Why WebGPU cannot run here, or null when an adapter is available. */
export async function webGpuProblem(): Promise<string | null> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return 'This browser has no WebGPU (navigator.gpu is missing).';
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return 'This browser has WebGPU, but it gave no GPU adapter (the GPU may be blocked, or WebGPU disabled for it).';
  } catch (e) {
    return `Asking for a WebGPU adapter failed: ${(e as Error).message}`;
  }
  return null;
}

const HOW = `flowgpu trains and samples on your own GPU through WebGPU. It works in Chrome and Edge 113 or
later (Windows, macOS, ChromeOS; on Linux start Chrome with <code>--enable-unsafe-webgpu</code>, and
<code>--enable-features=Vulkan</code> if needed), in Safari 26 (macOS 26, iOS 26), and in Firefox 141 or
later on Windows (elsewhere Firefox Nightly, or <code>dom.webgpu.enabled</code> set to true in
<code>about:config</code>). Check <a href="https://webgpureport.org">webgpureport.org</a> to see what your
browser offers.`;

/** Replaces the app with the explanation and the precomputed pictures. */
export function showNoWebGpu(reason: string, pictures: { src: string; caption: string }[]): void {
  const app = document.getElementById('app');
  if (app) app.hidden = true;
  const adapter = document.getElementById('adapter');
  if (adapter) adapter.textContent = 'no WebGPU in this browser';
  const box = document.getElementById('nogpu')!;
  box.hidden = false;
  box.innerHTML = `<h2>WebGPU is not available here</h2><p class="reason">${escapeHtml(reason)}</p><p>${HOW}</p>
<p>Meanwhile, here is what this page draws, made beforehand with the same code:</p>
<div class="pictures">${pictures.map((p) => `<figure><img src="${p.src}" alt="${escapeHtml(p.caption)}"><figcaption>${escapeHtml(p.caption)}</figcaption></figure>`).join('')}</div>`;
}

/** A banner saying the GPU device was lost, with a restart button. */
export function showDeviceLost(message: string, restartLabel: string, onRestart: () => void): void {
  const bar = document.getElementById('lost')!;
  bar.hidden = false;
  bar.innerHTML = `<strong>The GPU device was lost</strong> (${escapeHtml(message)}). This happens when the driver
resets, the GPU is needed elsewhere, or the tab slept. <button id="restart">${escapeHtml(restartLabel)}</button>`;
  document.getElementById('restart')!.onclick = () => {
    bar.hidden = true;
    onRestart();
  };
}

/** A one-line error in the page's status bar. */
export function showError(message: string): void {
  const bar = document.getElementById('error')!;
  bar.hidden = false;
  bar.textContent = message;
}

export function clearError(): void {
  const bar = document.getElementById('error');
  if (bar) bar.hidden = true;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
