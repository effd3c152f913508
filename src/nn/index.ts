/**
 * nn — modules with PyTorch's names and layouts (a checkpoint loads with `load_state_dict`): the
 * velocity networks (VelocityMLP, UNet), their layers, the network registry that rebuilds a net from
 * its spec, and classifier-free guidance.
 */
export { Module, type FlatParameters } from './module.js';
export { Linear, SiLU, Sequential } from './layers.js';
export { SinusoidalEmbedding, type SinusoidalOptions } from './embedding.js';
export { VelocityMLP, mlpConfig, type VelocityMLPConfig, type VelocityMLPOptions } from './mlp.js';
export { Conv2d, type Conv2dModuleOptions } from './conv.js';
export { GroupNorm } from './norm.js';
export { Embedding } from './embedding.js';
export { UNet, ResBlock, defaultUNetConfig, type UNetConfig } from './unet.js';
export { guidedVelocity, GuidanceLabels, GuidanceConditions, type GuidanceInputs, type ConditionalVelocityModel } from './guidance.js';
export { buildNet, mlpSpec, netSpecOf, type NetSpec, type NetArch, type VelocityNet } from './registry.js';
