#!/usr/bin/env node
// Runs the chromatica binary that npm installed with this package: the platform package
// (`@chromatica/cli-<platform>-<arch>`, an optional dependency) that matches this machine.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const target = `${process.platform}-${process.arch}`;
const exe = process.platform === 'win32' ? 'chromatica.exe' : 'chromatica';
let binary;
try {
  binary = require.resolve(`@chromatica/cli-${target}/bin/${exe}`);
} catch {
  console.error(`chromatica: no prebuilt binary for ${target} was installed (looked for the npm package ` +
    `@chromatica/cli-${target}). Install with optional dependencies enabled, or build chromatica from source ` +
    '(see the quick start in its README).');
  process.exit(1);
}
const result = spawnSync(binary, process.argv.slice(2), { stdio: 'inherit' });
if (result.error) {
  console.error(`chromatica: cannot run ${path.basename(binary)}: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
