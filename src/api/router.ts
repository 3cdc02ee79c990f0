// TEMPORARY (lead): replaced by the admin API implementation in progress.
import express from 'express';
import type { Registry } from '../app/registry.js';
export function createApiRouter(_registry: Registry): express.Router {
  return express.Router();
}
