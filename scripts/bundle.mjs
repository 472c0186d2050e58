// `npm run build`, step two: the operator as one ES module, dist/operator.mjs, what the image and
// `npm start` run. Why bundle: esbuild keeps only the modules the operator reaches. From
// @kubernetes/client-node that is KubeConfig, its auth and Watch, not the ~900 generated model
// classes its index loads (src/kube/http.ts); the process starts in a fraction of the time (one
// file instead of ~2,000) and needs no node_modules at run time.
// Prints the bundle's size by package, largest first, so a dependency that grows is seen here.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
// --outfile: elsewhere than dist/ (the check test and the benchmark bundle into their own dirs).
const { values } = parseArgs({ options: { outfile: { type: 'string' } } });
const outfile = resolve(values.outfile ?? join(root, 'dist', 'operator.mjs'));
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

// client-node's generated models are classes with static fields, which esbuild must assume have
// side effects, so it would keep all ~900 of them. They have none; nothing the operator runs uses
// them (it reads plain JSON), so they are declared free of side effects and dropped unless used.
/** @type {import('esbuild').Plugin} */
const modelsWithoutSideEffects = {
  name: 'client-node-models-without-side-effects',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\/.*\.js$/ }, (args) => {
      const path = join(dirname(args.importer), args.path);
      return /@kubernetes\/client-node\/dist\/gen\/(models|apis|types)\//.test(path) ? { path, sideEffects: false } : undefined;
    });
  },
};

const result = await build({
  entryPoints: [join(root, 'src', 'main.ts')],
  outfile,
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  // Some dependencies are CommonJS and require() Node's built-ins; an ES module has no require.
  banner: { js: "import { createRequire as __elsCreateRequire } from 'node:module'; const require = __elsCreateRequire(import.meta.url);" },
  sourcemap: 'linked',
  // Whitespace and syntax only: names stay, so stack traces and logs still read.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'linked',
  define: { __ELS_VERSION__: JSON.stringify(version) },
  metafile: true,
  plugins: [modelsWithoutSideEffects],
  logLevel: 'warning',
});

const byPackage = new Map();
for (const [file, input] of Object.entries(result.metafile.outputs[relative(root, outfile)]?.inputs ?? {})) {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? 'external-llm-secrets';
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + input.bytesInOutput);
}
const total = [...byPackage.values()].reduce((a, b) => a + b, 0);
const top = [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([p, n]) => `${p} ${(n / 1024).toFixed(0)} KiB`);
process.stdout.write(`bundle: ${relative(root, outfile)} ${(total / 1024).toFixed(0)} KiB (${top.join(', ')})\n`);
