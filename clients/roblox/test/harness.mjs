// harness.mjs runs the Hearth Luau module in a real Luau VM (luau-web, Luau
// compiled to WebAssembly) with a simulated Roblox runtime (runtime.luau)
// whose HttpService goes over Node's fetch to real Hearth nodes.
//
//   node test/harness.mjs <scenario>      (scenario: test/scenario_<name>.luau)
//
// Environment: HEARTH_GATEWAYS, comma-separated gateway base URLs (one
// simulated Roblox server per URL, or all on the first); HEARTH_TOKEN, the
// bearer token; HEARTH_SCENARIO_* settings read by scenarios.
//
// The VM is single-threaded like Roblox's: Luau threads are coroutines run
// by runtime.luau's scheduler, and the VM waits in JavaScript (waitFor) only
// when every thread is parked on a timer or an HTTP answer. The last line of
// output is "RESULT <json>": the scenario's result, read by the Go test.

import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { LuauState } from 'luau-web'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const scenario = process.argv[2]
if (!scenario) {
  console.error('usage: node test/harness.mjs <scenario>')
  process.exit(2)
}

// Completed HTTP exchanges, and the wake-up of a waiting VM.
const completed = []
let wake = null
let nextId = 0
const started = performance.now()

function deliver(entry) {
  completed.push(entry)
  if (wake) {
    const w = wake
    wake = null
    w()
  }
}

function httpStart(url, method, headersJson, body) {
  const id = ++nextId
  const headers = JSON.parse(headersJson || '{}')
  fetch(url, { method, headers, body: method === 'GET' ? undefined : body })
    .then(async (res) => {
      const text = await res.text()
      const h = {}
      res.headers.forEach((v, k) => { h[k] = v })
      deliver([id, res.status, res.statusText, JSON.stringify(h), text, ''])
    })
    .catch((err) => deliver([id, 0, '', '{}', '', String(err && err.cause ? err.cause : err)]))
  return id
}

function httpTake() {
  return completed.shift()
}

function waitFor(ms) {
  if (completed.length > 0) return undefined
  return new Promise((resolve) => {
    const timer = setTimeout(() => { wake = null; resolve() }, ms)
    wake = () => { clearTimeout(timer); resolve() }
  })
}

let result = null

const st = await LuauState.createAsync({
  js_clock: () => (performance.now() - started) / 1000,
  js_httpStart: httpStart,
  js_httpTake: httpTake,
  js_waitFor: waitFor,
  js_log: (s) => console.error(s),
  js_env: (name) => process.env[name] || '',
  js_result: (json) => { result = json },
})

// Every .luau file of src/ and test/ is compiled up front; the runtime's
// require finds them by path. Each chunk gets, as its arguments, what a
// Roblox script sees as globals, so several simulated servers can share
// one VM without sharing state.
const chunks = new Map()
function addDir(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) addDir(p)
    else if (name.endsWith('.luau')) {
      const src = readFileSync(p, 'utf8')
      const rel = relative(root, p).split('\\').join('/')
      // On the first line, so line numbers stay right.
      const wrapped = 'local require, game, task, Enum, warn, os = ...; ' + src
      chunks.set(rel, st.loadstring(wrapped, '=' + rel, true))
    }
  }
}
addDir(join(root, 'src'))
addDir(join(root, 'test'))

const main = st.loadstring(`
local runtimeChunk, scenarioChunk = ...
local js = {
  clock = js_clock, httpStart = js_httpStart, httpTake = js_httpTake,
  waitFor = js_waitFor, log = js_log, chunk = js_chunk, env = js_env,
}
local Runtime = runtimeChunk(nil, nil, nil, nil, nil, nil, js)
local scenario = scenarioChunk(nil, nil, Runtime.task, Runtime.Enum, nil, nil)
local out = Runtime.run(function() return scenario(Runtime, js) end)
local report = { result = out, failures = Runtime.failures }
js_result(Runtime.Json.encode(report))
`, '=main', true)

st.env.set('js_chunk', (name) => chunks.get(name), true)

const runtimeSrc = readFileSync(join(root, 'test', 'runtime.luau'), 'utf8')
// runtime.luau reads its bindings from ... : compile it so the 7th argument
// reaches it.
const runtimeChunk = st.loadstring('local _a, _b, _c, _d, _e, _f, js = ...; ' + runtimeSrc.replace(/^local js = \.\.\.[^\n]*/m, ''), '=test/runtime.luau', true)
const scenarioChunk = chunks.get(`test/scenario_${scenario}.luau`)
if (!scenarioChunk) {
  console.error(`no scenario test/scenario_${scenario}.luau`)
  process.exit(2)
}

try {
  await main(runtimeChunk, scenarioChunk)
} catch (err) {
  console.error('VM error:', err)
  process.exit(1)
}
if (result === null) {
  console.error('the scenario produced no result')
  process.exit(1)
}
console.log('RESULT ' + result)
const report = JSON.parse(result)
process.exit(report.failures && report.failures.length > 0 ? 1 : 0)
