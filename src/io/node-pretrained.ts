/**
 * Node's side of the shipped models: their files live in the package's `pretrained/` folder, two
 * levels above this module both in the sources (src/io/) and in the bundle (dist/node/).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FlowGpuError } from '../gpu/errors.js';
import { readCheckpoint } from './node-files.js';
import { loadModel, type LoadedModel } from './models.js';
import { pretrainedInfo, type PretrainedInfo } from './pretrained.js';

/** The path of a shipped model's file inside the installed package. */
export function pretrainedPath(name: string): string {
  const info = pretrainedInfo(name);
  const path = fileURLToPath(new URL(`../../pretrained/${info.file}`, import.meta.url));
  if (!existsSync(path)) throw new FlowGpuError(`pretrained model '${name}': ${path} is missing (a package without its pretrained/ folder?): reinstall flowgpu`);
  return path;
}

/** Loads a shipped model from the package's files (Node; browsers use `io.pretrained(name, { url })`). */
export function pretrained(name: string): LoadedModel & { path: string; info: PretrainedInfo } {
  const path = pretrainedPath(name);
  return { ...loadModel(readCheckpoint(path), { where: path }), path, info: pretrainedInfo(name) };
}
