/** The deployment files, checked offline (no cluster, no Render account, no network): every Kubernetes
 *  object of deploy/kubernetes/ against the Kubernetes schemas (kubernetes-models), the kustomization's
 *  resources and images resolved as kustomize does (compared with `kubectl kustomize` where kubectl is
 *  installed), the wiring a typo would break (selectors, ports, probes, keys, settings the services
 *  accept), and render.yaml's references, key pairs and start commands. */
import { describe, expect, test } from 'bun:test'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1'
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { loadSettings as agentSettings } from '../agent/src/settings'
import { loadSettings as controllerSettings } from '../controller/src/settings'
import { loadSettings as workerSettings } from '../worker/src/settings'
import { ROOT } from './harness'

type Obj = Record<string, any>
const K8S = join(ROOT, 'deploy', 'kubernetes')
const yamlDocs = (path: string): Obj[] => {
  const parsed = Bun.YAML.parse(readFileSync(path, 'utf8')) as unknown
  return (Array.isArray(parsed) ? parsed : [parsed]).filter((d): d is Obj => d !== null && typeof d === 'object')
}

/** The schema-checked model of each kind the base uses; any other kind is a failure, not a pass. */
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
}

const KUSTOMIZATION = yamlDocs(join(K8S, 'kustomization.yaml'))[0]!
const EXAMPLE_SECRET = yamlDocs(join(K8S, 'secret.example.yaml'))[0]!

/** What `kustomize build` makes of this base: its resources in order, each container image replaced by
 *  the kustomization's `images` entry of the same name. */
function build(): Obj[] {
  const images = KUSTOMIZATION.images as { name: string; newName?: string; newTag?: string }[]
  const objects = (KUSTOMIZATION.resources as string[]).flatMap((r) => yamlDocs(join(K8S, r)))
  for (const o of objects)
    for (const c of o.spec?.template?.spec?.containers ?? []) {
      const i = images.find((e) => e.name === c.image.split(':')[0])
      if (i) c.image = `${i.newName ?? i.name}:${i.newTag ?? 'latest'}`
    }
  return objects
}
const BUILT = build()
const find = (kind: string, name: string) => {
  const o = BUILT.find((x) => x.kind === kind && x.metadata.name === name)
  if (!o) throw new Error(`no ${kind} ${name} in the build`)
  return o
}
const podSpec = (o: Obj) => o.spec.template.spec as Obj
const container = (o: Obj, name: string) => podSpec(o).containers.find((c: Obj) => c.name === name) as Obj
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v)

/** A container's environment as the pod gets it: its ConfigMaps' data, then its env (secrets from `secret`). */
function envOf(c: Obj, secret: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const f of c.envFrom ?? []) Object.assign(env, find('ConfigMap', f.configMapRef.name).data)
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef
    env[e.name] = ref ? secret[ref.key]! : e.value
  }
  return env
}
/** The setting names a service reads: every NAME= line, set or commented out, of its .env.example. */
const settingNames = (service: string) => new Set([...readFileSync(join(ROOT, service, '.env.example'), 'utf8').matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!))

describe('deploy/kubernetes: a kustomize base', () => {
  test('every object of every file is valid against the Kubernetes schemas of its kind', () => {
    const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    const checked: string[] = []
    for (const f of files)
      for (const doc of yamlDocs(join(K8S, f))) {
        const Model = MODELS[`${doc.apiVersion}/${doc.kind}`]
        if (!Model) throw new Error(`${f}: ${doc.apiVersion} ${doc.kind} is not a kind this test knows`)
        try {
          new Model(doc).validate()
        } catch (e) {
          throw new Error(`${f}: ${doc.kind} ${doc.metadata?.name}: ${(e as Error).message}`)
        }
        checked.push(`${doc.kind}/${doc.metadata.name}`)
      }
    expect(checked.sort()).toEqual(
      ['ConfigMap/dcm-agent', 'ConfigMap/dcm-controller', 'ConfigMap/dcm-worker', 'Deployment/dcm-controller', 'PodDisruptionBudget/dcm-controller', 'PodDisruptionBudget/dcm-node', 'Secret/dcm-keys', 'Service/dcm-controller', 'Service/dcm-node', 'Service/dcm-worker', 'StatefulSet/dcm-node'].sort(),
    )
  })

  test('a schema violation is caught (the check is not a no-op)', () => {
    const bad = structuredClone(find('Deployment', 'dcm-controller'))
    bad.spec.replicas = 'two'
    expect(() => new Deployment(bad).validate()).toThrow('replicas')
  })

  test('the kustomization lists every manifest but the example Secret, each file exists, every image is set', () => {
    expect(Object.keys(KUSTOMIZATION).sort()).toEqual(['apiVersion', 'images', 'kind', 'resources'])
    expect(KUSTOMIZATION.kind).toBe('Kustomization')
    const manifests = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && !['kustomization.yaml', 'secret.example.yaml'].includes(f))
    expect([...(KUSTOMIZATION.resources as string[])].sort()).toEqual(manifests.sort())
    const images = BUILT.flatMap((o) => (o.spec?.template?.spec?.containers ?? []).map((c: Obj) => c.image))
    expect(images.sort()).toEqual(['registry.example.com/dcm-agent:0.1.0', 'registry.example.com/dcm-controller:0.1.0', 'registry.example.com/dcm-worker:0.1.0'])
  })

  const kubectl = Bun.which('kubectl')
  test.skipIf(!kubectl)('kubectl kustomize builds the same objects (run where kubectl is installed)', () => {
    const r = Bun.spawnSync([kubectl!, 'kustomize', K8S], { stdout: 'pipe', stderr: 'pipe' })
    expect(r.stderr.toString()).toBe('')
    const theirs = (Bun.YAML.parse(r.stdout.toString()) as Obj[]).filter(Boolean)
    const key = (o: Obj) => `${o.kind}/${o.metadata.name}`
    const byKey = (xs: Obj[]) => Object.fromEntries(xs.map((o) => [key(o), o]))
    expect(byKey(theirs)).toEqual(byKey(BUILT))
  })
  if (!kubectl) console.warn('deploy.test.ts: kubectl is not installed; the kustomize build is checked by this file alone')

  test('the controller: 2 replicas, /readyz for readiness, /healthz for liveness, a Service and a PDB that select its pods', () => {
    const d = find('Deployment', 'dcm-controller')
    const c = container(d, 'controller')
    const labels = d.spec.template.metadata.labels
    expect(d.spec.replicas).toBe(2)
    expect(matches(d.spec.selector.matchLabels, labels)).toBe(true)
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' })
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' })
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080 }])
    const svc = find('Service', 'dcm-controller')
    expect(matches(svc.spec.selector, labels)).toBe(true)
    expect(svc.spec.ports[0].targetPort).toBe('http')
    const pdb = find('PodDisruptionBudget', 'dcm-controller')
    expect(matches(pdb.spec.selector.matchLabels, labels)).toBe(true)
    expect(pdb.spec.minAvailable).toBe(1)
  })

  test('the node pod: worker and agent side by side, the agent pushing to localhost, its state on a claimed volume', () => {
    const s = find('StatefulSet', 'dcm-node')
    const spec = podSpec(s)
    expect(spec.containers.map((c: Obj) => c.name)).toEqual(['worker', 'agent'])
    const worker = container(s, 'worker')
    const agent = container(s, 'agent')
    const env = envOf(agent, EXAMPLE_SECRET.stringData)
    expect(env.WORKER_URL).toBe(`http://127.0.0.1:${worker.ports[0].containerPort}`)
    expect(new URL(env.CONTROLLER_URL!).host).toBe(`dcm-controller:${find('Service', 'dcm-controller').spec.ports[0].port}`)
    const mount = agent.volumeMounts.find((m: Obj) => env.STATE_FILE!.startsWith(`${m.mountPath}/`))
    expect(s.spec.volumeClaimTemplates.map((v: Obj) => v.metadata.name)).toContain(mount.name)
    expect(spec.securityContext.fsGroup).toBe(10001)
    expect(s.spec.podManagementPolicy).toBe('Parallel')
    for (const c of [worker, agent]) {
      expect(c.readinessProbe.httpGet.path).toBe('/readyz')
      expect(c.livenessProbe.httpGet.path).toBe('/healthz')
      expect(c.ports.map((p: Obj) => p.name)).toContain(c.readinessProbe.httpGet.port)
    }
    const labels = s.spec.template.metadata.labels
    for (const name of ['dcm-worker', 'dcm-node']) {
      const svc = find('Service', name)
      expect(matches(svc.spec.selector, labels)).toBe(true)
      const named = spec.containers.flatMap((c: Obj) => c.ports.map((p: Obj) => p.name))
      for (const p of svc.spec.ports) expect(named).toContain(p.targetPort)
    }
    expect(find('Service', 'dcm-node').spec.clusterIP).toBe('None')
    expect(s.spec.serviceName).toBe('dcm-node')
    expect(matches(find('PodDisruptionBudget', 'dcm-node').spec.selector.matchLabels, labels)).toBe(true)
  })

  test('keys pair up: controller AGENT_API_KEY = agent CONTROLLER_API_KEY, worker AGENT_API_KEY = agent WORKER_API_KEY', () => {
    const ref = (c: Obj, name: string) => c.env.find((e: Obj) => e.name === name).valueFrom.secretKeyRef
    const ctl = container(find('Deployment', 'dcm-controller'), 'controller')
    const node = find('StatefulSet', 'dcm-node')
    expect(ref(container(node, 'agent'), 'CONTROLLER_API_KEY')).toEqual(ref(ctl, 'AGENT_API_KEY'))
    expect(ref(container(node, 'agent'), 'WORKER_API_KEY')).toEqual(ref(container(node, 'worker'), 'AGENT_API_KEY'))
    expect(ref(ctl, 'ADMIN_API_KEY').key).not.toBe(ref(ctl, 'AGENT_API_KEY').key)
    // Every secret key the pods read is in the example Secret, under the name they read it from.
    const refs = [ctl, container(node, 'agent'), container(node, 'worker')].flatMap((c) => c.env.map((e: Obj) => e.valueFrom.secretKeyRef))
    for (const r of refs) {
      expect(r.name).toBe(EXAMPLE_SECRET.metadata.name)
      expect(Object.keys(EXAMPLE_SECRET.stringData)).toContain(r.key)
    }
  })

  test('every container: non-root, read-only root filesystem, no privilege escalation, memory requested and limited', () => {
    for (const o of [find('Deployment', 'dcm-controller'), find('StatefulSet', 'dcm-node')]) {
      const spec = podSpec(o)
      expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 })
      expect(spec.automountServiceAccountToken).toBe(false)
      for (const c of spec.containers) {
        expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } })
        expect(c.resources.requests.memory).toMatch(/^\d+Mi$/)
        expect(c.resources.requests.cpu).toMatch(/^\d+m$/)
        const mi = (q: string) => Number(q.replace('Mi', ''))
        expect(mi(c.resources.limits.memory)).toBeGreaterThan(mi(c.resources.requests.memory))
      }
    }
  })

  test('the settings are ones the services read, and with real keys every service accepts them in production', () => {
    const real = { 'agent-key': 'a'.repeat(43), 'worker-key': 'w'.repeat(43), 'admin-key': 'm'.repeat(43), 'database-url': 'postgres://dcm:pw@db:5432/dcm' }
    const ctl = envOf(container(find('Deployment', 'dcm-controller'), 'controller'), real)
    const node = find('StatefulSet', 'dcm-node')
    const agent = envOf(container(node, 'agent'), real)
    const worker = envOf(container(node, 'worker'), real)
    for (const [service, env] of [['controller', ctl], ['agent', agent], ['worker', worker]] as const) {
      const known = settingNames(service)
      expect(Object.keys(env).filter((k) => !known.has(k))).toEqual([])
    }
    const prod = { NODE_ENV: 'production' }
    expect(controllerSettings({ ...ctl, ...prod })).toMatchObject({ port: 8080, databaseUrl: real['database-url'], publicUrl: 'http://dcm-controller:8080' })
    expect(agentSettings({ ...agent, ...prod })).toMatchObject({ port: 8081 })
    expect(workerSettings({ ...worker, ...prod })).toMatchObject({ port: 8082 })
  })

  test('the example Secret holds no usable key: applied unedited, every service refuses to start in production', () => {
    const values = EXAMPLE_SECRET.stringData as Record<string, string>
    expect(Object.entries(values).filter(([k, v]) => k.endsWith('-key') && !v.startsWith('dev-REPLACE-ME'))).toEqual([])
    const node = find('StatefulSet', 'dcm-node')
    const prod = { NODE_ENV: 'production' }
    expect(() => controllerSettings({ ...envOf(container(find('Deployment', 'dcm-controller'), 'controller'), values), ...prod })).toThrow('development key')
    expect(() => agentSettings({ ...envOf(container(node, 'agent'), values), ...prod })).toThrow('development key')
    expect(() => workerSettings({ ...envOf(container(node, 'worker'), values), ...prod })).toThrow('development key')
  })
})

describe('render.yaml: the Render blueprint', () => {
  const BLUEPRINT = yamlDocs(join(ROOT, 'render.yaml'))[0]!
  const services = BLUEPRINT.services as Obj[]
  const service = (name: string) => services.find((s) => s.name === name)!
  const envVar = (s: Obj, key: string) => (s.envVars as Obj[]).find((e) => e.key === key)
  const SOURCES = ['value', 'generateValue', 'sync', 'fromDatabase', 'fromService', 'fromGroup']

  test('three web services from their own Dockerfiles, each building its own service, on a fixed port other than 10000', () => {
    expect(services.map((s) => [s.name, s.type, s.runtime])).toEqual([
      ['dcm-controller', 'web', 'docker'],
      ['dcm-worker', 'web', 'docker'],
      ['dcm-agent', 'web', 'docker'],
    ])
    for (const s of services) {
      const name = s.name.replace('dcm-', '')
      const file = join(ROOT, s.dockerContext, s.dockerfilePath)
      const text = readFileSync(file, 'utf8')
      expect(text).toContain(`RUN bun scripts/build.ts ${name}\n`)
      expect(text).toContain(`COPY --from=build /src/dist/${name} /usr/local/bin/dcm-${name}\n`)
      expect(text).toMatch(/^USER dcm$/m)
      // Every file the build copies from the context exists in the repository.
      for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) for (const src of m[1]!.split(' ')) expect(existsSync(join(ROOT, s.dockerContext, src))).toBe(true)
      const port = envVar(s, 'PORT')!.value
      expect(text).toContain(`PORT=${port}`)
      expect(port).not.toBe('10000')
    }
  })

  test('health checks: the controller on /readyz; agent and worker on /healthz (ready only once a config exists)', () => {
    expect(services.map((s) => [s.name, s.healthCheckPath])).toEqual([
      ['dcm-controller', '/readyz'],
      ['dcm-worker', '/healthz'],
      ['dcm-agent', '/healthz'],
    ])
  })

  test('each variable has one source; every reference names a database, service or generated key of this blueprint', () => {
    const databases = (BLUEPRINT.databases as Obj[]).map((d) => d.name)
    for (const s of services)
      for (const e of s.envVars as Obj[]) {
        expect([e.key, SOURCES.filter((k) => k in e)]).toEqual([e.key, [expect.any(String)]])
        if (e.fromDatabase) expect(databases).toContain(e.fromDatabase.name)
        if (e.fromService) {
          const target = service(e.fromService.name)
          expect(target?.type).toBe(e.fromService.type)
          if (e.fromService.envVarKey) expect(envVar(target, e.fromService.envVarKey)?.generateValue).toBe(true)
          else expect(e.fromService.property).toBe('hostport')
        }
      }
  })

  test('the controller on Render PostgreSQL with generated keys; the agent gets the controller\'s and the worker\'s keys', () => {
    const ctl = service('dcm-controller')
    expect(envVar(ctl, 'DATABASE_URL')!.fromDatabase).toEqual({ name: 'dcm-db', property: 'connectionString' })
    expect(envVar(ctl, 'AGENT_API_KEY')!.generateValue).toBe(true)
    expect(envVar(ctl, 'ADMIN_API_KEY')!.generateValue).toBe(true)
    expect(envVar(ctl, 'SQLITE_PATH')).toBeUndefined()
    const agent = service('dcm-agent')
    expect(envVar(agent, 'CONTROLLER_API_KEY')!.fromService).toEqual({ type: 'web', name: 'dcm-controller', envVarKey: 'AGENT_API_KEY' })
    expect(envVar(agent, 'WORKER_API_KEY')!.fromService).toEqual({ type: 'web', name: 'dcm-worker', envVarKey: 'AGENT_API_KEY' })
    expect(agent.disk.mountPath).toBe('/data')
    expect(envVar(agent, 'STATE_FILE')!.value.startsWith(`${agent.disk.mountPath}/`)).toBe(true)
    // The variables set are settings the service reads (the *_HOSTPORT pair is read by the image's command).
    for (const s of services) {
      const known = settingNames(s.name.replace('dcm-', ''))
      expect((s.envVars as Obj[]).map((e) => e.key).filter((k) => !known.has(k) && !k.endsWith('_HOSTPORT'))).toEqual([])
    }
  })

  /** The env a service's image command hands its executable, run by /bin/sh as the container would. */
  function startEnv(name: string, env: Record<string, string>) {
    const text = readFileSync(join(ROOT, 'deploy', 'render', `${name}.Dockerfile`), 'utf8')
    const cmd = JSON.parse(/^CMD (.+)$/m.exec(text)![1]!) as string[]
    expect(cmd.slice(0, 2)).toEqual(['/bin/sh', '-c'])
    expect(cmd[2]).toEndWith(`exec /usr/local/bin/dcm-${name}`)
    const r = Bun.spawnSync(['/bin/sh', '-c', cmd[2]!.replace(/exec \S+$/, 'env')], { env: { PATH: '/usr/bin:/bin', ...env }, stdout: 'pipe' })
    return Object.fromEntries(r.stdout.toString().trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  }

  test('PUBLIC_URL is the controller\'s own public URL (RENDER_EXTERNAL_URL) unless set; the agent\'s URLs come from the private host:ports unless set', () => {
    expect(startEnv('controller', { RENDER_EXTERNAL_URL: 'https://dcm-controller-x1.onrender.com' }).PUBLIC_URL).toBe('https://dcm-controller-x1.onrender.com')
    expect(startEnv('controller', { RENDER_EXTERNAL_URL: 'https://a.onrender.com', PUBLIC_URL: 'https://dcm.example.com' }).PUBLIC_URL).toBe('https://dcm.example.com')
    const agent = startEnv('agent', { CONTROLLER_HOSTPORT: 'dcm-controller-x1:8080', WORKER_HOSTPORT: 'dcm-worker-y2:8082' })
    expect([agent.CONTROLLER_URL, agent.WORKER_URL]).toEqual(['http://dcm-controller-x1:8080', 'http://dcm-worker-y2:8082'])
    const free = startEnv('agent', { CONTROLLER_HOSTPORT: 'c:8080', WORKER_HOSTPORT: 'w:8082', CONTROLLER_URL: 'https://dcm-controller-x1.onrender.com', WORKER_URL: 'https://dcm-worker-y2.onrender.com' })
    expect([free.CONTROLLER_URL, free.WORKER_URL]).toEqual(['https://dcm-controller-x1.onrender.com', 'https://dcm-worker-y2.onrender.com'])
    // What the controller then hands agents as their poll URL: its own public URL.
    const s = controllerSettings({ AGENT_API_KEY: 'a'.repeat(43), ADMIN_API_KEY: 'm'.repeat(43), NODE_ENV: 'production', PORT: '8080', PUBLIC_URL: startEnv('controller', { RENDER_EXTERNAL_URL: 'https://c.onrender.com' }).PUBLIC_URL! })
    expect(s.publicUrl).toBe('https://c.onrender.com')
  })
})
