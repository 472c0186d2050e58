// Where the operator's heap goes, from a V8 heap snapshot (.heapsnapshot, written by the operator
// on SIGUSR2 with --heapsnapshot-signal): self sizes by V8 node type, and retained sizes (what
// would be freed without it) of the operator's own structures, through the dominator tree
// (Cooper, Harvey & Kennedy, "A Simple, Fast Dominance Algorithm", iterative over reverse
// postorder; weak edges ignored, as in Chrome DevTools).
//
// The structures are found by path, from a class (constructor) name through property names: the
// list STRUCTURES below. Class and field names change with the code: update the list when they
// do (a path that finds nothing reports 0 objects, and the "unattributed" figure grows).
//
//   node --max-old-space-size=8192 --import tsx bench/heap-snapshot.ts FILE.heapsnapshot   (prints JSON)
import { readFileSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** A path: the first element matches a node's name (class name for objects; 'a|b': either); the others follow
 * edges by name ('a|b': either; '*': every element or property). Two figures for the nodes at its
 * end: retained (what the dominator tree says only they keep alive; shared objects go to a common
 * dominator) and owned (every object reachable from them through data edges — properties,
 * elements, Map/Set tables; not closures, code, hidden classes, prototypes or timer lists — and
 * not owned by an earlier rule: each object counted once, by the first rule that reaches it). */
export interface StructureRule { label: string; path: string[] }

export const STRUCTURES: StructureRule[] = [
  // src/controller/controller.ts → informer.ts (SupervisedInformer) → its store (a Map).
  { label: 'informer cache: ExternalLLMSecret', path: ['Controller', '#resources', '*', '#store'] },
  { label: 'informer cache: Secret', path: ['Controller', '#secrets', '*', '#store'] },
  { label: 'status write-cache (StatusWriter)', path: ['StatusWriter', '#written'] },
  { label: 'source value cache (SourceCache)', path: ['SourceCache', '#entries'] },
  { label: 'version index (VersionIndex)', path: ['VersionIndex', '#snapshots|#described|#inflight|#invalidations|#refused|#describeRefused'] },
  { label: 'credential cache (CredentialBroker)', path: ['CredentialBroker', '#cache|#tokens'] },
  { label: 'work queue (WorkQueue)', path: ['WorkQueue', '#pending|#queued|#active|#dirty|#timers|#failures'] },
  { label: 'refresh schedule (RefreshSchedule)', path: ['RefreshSchedule', '#memory|#marks|#checking'] },
  { label: 'recovery board (RecoveryBoard)', path: ['RecoveryBoard', '#waiting|#early'] },
  // The bundle renames classes whose names collide (prom-client's Registry is _Registry there).
  { label: 'metrics: prom-client registry and series', path: ['Registry|_Registry', '_metrics|_collectors'] },
  { label: 'AWS SDK clients (AwsClientFactory)', path: ['AwsClientFactory', '#sm|#sts'] },
];

export interface HeapBreakdown {
  file: string;
  fileMb: number;
  nodes: number;
  edges: number;
  /** Self sizes of every node reachable from the roots, in bytes. */
  totalBytes: number;
  /** Self sizes by V8 node type (code, strings, closures, hidden = V8-internal objects, …). */
  byType: Record<string, number>;
  /** Retained bytes of each rule's structure, and how many nodes its path reached. */
  structures: Array<{ label: string; bytes: number; ownedBytes: number; objects: number }>;
  /** Module source text kept as strings (owners named file://… or node:…, edge "source"), by package. */
  moduleSources: Record<string, number>;
  /** Total minus the structures' owned bytes (module code, the SDKs' own objects, buffers, …). */
  unattributedBytes: number;
  /** The largest retainers directly under the roots' children. */
  top: Array<{ name: string; type: string; retainedBytes: number; via: string }>;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export function analyseHeapSnapshot(file: string, rules: StructureRule[] = STRUCTURES): HeapBreakdown {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const meta = snap.snapshot.meta;
  const NF = meta.node_fields.length;
  const EF = meta.edge_fields.length;
  const nType = meta.node_fields.indexOf('type');
  const nName = meta.node_fields.indexOf('name');
  const nSelf = meta.node_fields.indexOf('self_size');
  const nEdges = meta.node_fields.indexOf('edge_count');
  const eType = meta.edge_fields.indexOf('type');
  const eName = meta.edge_fields.indexOf('name_or_index');
  const eTo = meta.edge_fields.indexOf('to_node');
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const WEAK = edgeTypes.indexOf('weak');
  const ELEMENT = edgeTypes.indexOf('element');
  const HIDDEN = edgeTypes.indexOf('hidden');
  const PROPERTY = edgeTypes.indexOf('property');
  const INTERNAL = edgeTypes.indexOf('internal');
  const { strings } = snap;

  const n = snap.nodes.length / NF;
  const m = snap.edges.length / EF;
  const self = new Float64Array(n);
  const type = new Uint8Array(n);
  const name = new Int32Array(n);
  const first = new Int32Array(n + 1);
  for (let i = 0, e = 0; i < n; i++) {
    self[i] = snap.nodes[i * NF + nSelf]!;
    type[i] = snap.nodes[i * NF + nType]!;
    name[i] = snap.nodes[i * NF + nName]!;
    first[i] = e;
    e += snap.nodes[i * NF + nEdges]!;
    first[i + 1] = e;
  }
  const eto = new Int32Array(m);
  const etype = new Uint8Array(m);
  const ename = new Int32Array(m);
  for (let j = 0; j < m; j++) {
    eto[j] = snap.edges[j * EF + eTo]! / NF;
    etype[j] = snap.edges[j * EF + eType]!;
    ename[j] = snap.edges[j * EF + eName]!;
  }
  (snap as Partial<Snapshot>).nodes = undefined;
  (snap as Partial<Snapshot>).edges = undefined;
  const edgeName = (j: number) => (etype[j] === ELEMENT || etype[j] === HIDDEN ? String(ename[j]) : strings[ename[j]!]!);

  // Depth-first preorder from the root (node 0) over strong edges, iteratively.
  const dfn = new Int32Array(n).fill(-1); // preorder number
  const vertex = new Int32Array(n); // vertex[k] = node with preorder k
  const parent = new Int32Array(n).fill(-1);
  const stackNode = new Int32Array(n);
  const stackEdge = new Int32Array(n);
  let count = 0;
  let sp = 1;
  stackNode[0] = 0; stackEdge[0] = first[0]!; dfn[0] = count; vertex[count++] = 0;
  while (sp > 0) {
    const v = stackNode[sp - 1]!;
    const j = stackEdge[sp - 1]!;
    if (j >= first[v + 1]!) { sp--; continue; }
    stackEdge[sp - 1] = j + 1;
    if (etype[j] === WEAK) continue;
    const w = eto[j]!;
    if (dfn[w] !== -1) continue;
    dfn[w] = count; vertex[count++] = w; parent[w] = v;
    stackNode[sp] = w; stackEdge[sp] = first[w]!; sp++;
  }
  const visited = (v: number) => dfn[v] !== -1;

  // Predecessors (strong edges between reachable nodes), as CSR.
  const predStart = new Int32Array(n + 1);
  for (let v = 0; v < n; v++) {
    if (!visited(v)) continue;
    for (let j = first[v]!; j < first[v + 1]!; j++) if (etype[j] !== WEAK && visited(eto[j]!)) predStart[eto[j]! + 1]!++;
  }
  for (let v = 0; v < n; v++) predStart[v + 1]! += predStart[v]!;
  const preds = new Int32Array(predStart[n]!);
  const fill = predStart.slice(0, n);
  for (let v = 0; v < n; v++) {
    if (!visited(v)) continue;
    for (let j = first[v]!; j < first[v + 1]!; j++) if (etype[j] !== WEAK && visited(eto[j]!)) preds[fill[eto[j]!]!++] = v;
  }

  // Dominators: Lengauer–Tarjan with path compression (the iterative Cooper–Harvey–Kennedy
  // scheme needs thousands of passes on heap graphs with long chains). Works on preorder numbers.
  const semi = new Int32Array(count);
  const idomK = new Int32Array(count);
  const ancestor = new Int32Array(count).fill(-1);
  const label = new Int32Array(count);
  const bucketHead = new Int32Array(count).fill(-1);
  const bucketNext = new Int32Array(count).fill(-1);
  const path: number[] = [];
  for (let k = 0; k < count; k++) { semi[k] = k; label[k] = k; }
  const evaluate = (k: number): number => {
    if (ancestor[k] === -1) return k;
    // Compress the ancestor path of k, iteratively.
    for (let x = k; ancestor[ancestor[x]!] !== -1; x = ancestor[x]!) path.push(x);
    while (path.length) {
      const x = path.pop()!;
      const a = ancestor[x]!;
      if (semi[label[a]!]! < semi[label[x]!]!) label[x] = label[a]!;
      ancestor[x] = ancestor[a]!;
    }
    return label[k]!;
  };
  for (let k = count - 1; k >= 1; k--) {
    const w = vertex[k]!;
    for (let p = predStart[w]!; p < predStart[w + 1]!; p++) {
      const u = evaluate(dfn[preds[p]!]!);
      if (semi[u]! < semi[k]!) semi[k] = semi[u]!;
    }
    const s = semi[k]!;
    bucketNext[k] = bucketHead[s]!; bucketHead[s] = k;
    const pk = dfn[parent[w]!]!;
    ancestor[k] = pk;
    for (let b = bucketHead[pk]!; b !== -1; b = bucketNext[b]!) {
      const u = evaluate(b);
      idomK[b] = semi[u]! < semi[b]! ? u : pk;
    }
    bucketHead[pk] = -1;
  }
  for (let k = 1; k < count; k++) if (idomK[k] !== semi[k]) idomK[k] = idomK[idomK[k]!]!;
  const idom = new Int32Array(n).fill(-1);
  idom[0] = 0;
  for (let k = 1; k < count; k++) idom[vertex[k]!] = vertex[idomK[k]!]!;

  // Retained sizes: a node's dominator has a lower preorder number, so go backwards.
  const retained = new Float64Array(n);
  let totalBytes = 0;
  const byType: Record<string, number> = {};
  for (let k = count - 1; k >= 0; k--) {
    const v = vertex[k]!;
    retained[v]! += self[v]!;
    totalBytes += self[v]!;
    const t = nodeTypes[type[v]!] ?? String(type[v]);
    byType[t] = (byType[t] ?? 0) + self[v]!;
    if (v !== 0) retained[idom[v]!]! += retained[v]!;
  }

  // Structures by path.
  const OBJECT = nodeTypes.indexOf('object');
  const byName = new Map<string, number[]>();
  for (let v = 0; v < n; v++) {
    if (!visited(v) || type[v] !== OBJECT) continue;
    const s = strings[name[v]!]!;
    let list = byName.get(s);
    if (!list) byName.set(s, list = []);
    list.push(v);
  }
  const owned = new Uint8Array(n);
  const DATA_TYPES = new Set(['object', 'array', 'string', 'concatenated string', 'sliced string', 'number', 'heap number', 'bigint', 'symbol', 'regexp']
    .map((t) => nodeTypes.indexOf(t)).filter((i) => i >= 0));
  const NOT_DATA = new Set(['map', '__proto__', 'constructor', 'prototype', '_idlePrev', '_idleNext', '_onTimeout', 'native_context', 'context']);
  const dominatedBy = (v: number, set: Set<number>) => {
    for (let u = idom[v]!; u !== 0 && u !== -1; u = idom[u]!) if (set.has(u)) return true;
    return false;
  };
  const structures = rules.map((rule) => {
    let at = rule.path[0]!.split('|').flatMap((name) => byName.get(name) ?? []);
    for (const step of rule.path.slice(1)) {
      const names = new Set(step.split('|'));
      const next: number[] = [];
      for (const v of at) {
        for (let j = first[v]!; j < first[v + 1]!; j++) {
          const ok = step === '*' ? etype[j] === ELEMENT || (etype[j] === PROPERTY && edgeName(j) !== '__proto__') : (etype[j] === PROPERTY || etype[j] === INTERNAL) && names.has(edgeName(j));
          if (ok && visited(eto[j]!)) next.push(eto[j]!);
        }
      }
      at = next;
    }
    const set = new Set(at);
    let bytes = 0;
    for (const v of set) if (!dominatedBy(v, set)) bytes += retained[v]!;
    // Owned: breadth-first through data edges, skipping what an earlier rule owns.
    let ownedBytes = 0;
    const queue = [...set].filter((v) => !owned[v]);
    for (const v of queue) owned[v] = 1;
    while (queue.length) {
      const v = queue.pop()!;
      ownedBytes += self[v]!;
      for (let j = first[v]!; j < first[v + 1]!; j++) {
        const t = etype[j]!;
        if (t !== PROPERTY && t !== ELEMENT && t !== INTERNAL) continue;
        const w = eto[j]!;
        if (owned[w] || !visited(w) || !DATA_TYPES.has(type[w]!) || (t !== ELEMENT && NOT_DATA.has(edgeName(j)))) continue;
        owned[w] = 1;
        queue.push(w);
      }
    }
    return { label: rule.label, bytes, ownedBytes, objects: set.size };
  });
  const unattributedBytes = totalBytes - structures.reduce((a, s) => a + s.ownedBytes, 0);

  const moduleSources: Record<string, number> = {};
  const STRING = nodeTypes.indexOf('string');
  const seenSource = new Uint8Array(n);
  for (let v = 0; v < n; v++) {
    if (!visited(v)) continue;
    const owner = strings[name[v]!]!;
    if (!owner.startsWith('file://') && !owner.startsWith('node:')) continue;
    for (let j = first[v]!; j < first[v + 1]!; j++) {
      const w = eto[j]!;
      if (type[w] !== STRING || seenSource[w] || edgeName(j) !== 'source') continue;
      seenSource[w] = 1;
      const pkg = owner.startsWith('node:') ? 'node: (built-in)' : /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(owner)?.[1] ?? 'the operator (not node_modules)';
      moduleSources[pkg] = (moduleSources[pkg] ?? 0) + self[w]!;
    }
  }

  // The biggest dominator-tree subtrees two levels down (root → (GC roots)/(global) → …).
  const children = new Map<number, number[]>();
  for (let k = 1; k < count; k++) {
    const v = vertex[k]!;
    const d = idom[v]!;
    if (d === 0 || idom[d] === 0) {
      let list = children.get(d);
      if (!list) children.set(d, list = []);
      list.push(v);
    }
  }
  const via = (v: number) => {
    const d = idom[v]!;
    for (let j = first[d]!; j < first[d + 1]!; j++) if (eto[j] === v) return `${strings[name[d]!]} → ${edgeName(j)}`;
    return strings[name[d]!]!;
  };
  const candidates = [...(children.get(0) ?? []).flatMap((c) => children.get(c) ?? [])];
  const top = candidates.sort((a, b) => retained[b]! - retained[a]!).slice(0, 15).map((v) => ({
    name: strings[name[v]!]!.slice(0, 80), type: nodeTypes[type[v]!]!, retainedBytes: retained[v]!, via: via(v).slice(0, 120),
  }));

  return { file, fileMb: Math.round(statSync(file).size / 2 ** 20), nodes: n, edges: m, totalBytes, byType, structures, moduleSources, unattributedBytes, top };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) { process.stderr.write('usage: heap-snapshot.ts FILE.heapsnapshot\n'); process.exit(2); }
  process.stdout.write(`${JSON.stringify(analyseHeapSnapshot(file), null, 2)}\n`);
}
