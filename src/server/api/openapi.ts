// /api/v1/openapi.json: an OpenAPI 3.1 document generated from the route table and the zod
// schemas the API parses and answers with (JSON Schema 2020-12, which OpenAPI 3.1 uses).
import { z } from "zod";
import { apiRegistry, ErrorBody } from "./schemas.ts";
import type { ApiRoute } from "./routes.ts";

const REF = (id: string) => ({ $ref: `#/components/schemas/${id}` });

function schemaRef(schema: z.ZodType, io: "input" | "output"): unknown {
  const meta = apiRegistry.get(schema);
  if (meta !== undefined) return REF(meta.id);
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any", target: "draft-2020-12" }) as Record<string, unknown>;
  return rest;
}

function queryParameters(schema: z.ZodType | null): unknown[] {
  if (schema === null) return [];
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as { properties?: Record<string, { description?: string }>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return { name, in: "query", required: json.required?.includes(name) ?? false, ...(description ? { description } : {}), schema: rest };
  });
}

const ERROR_STATUSES: Record<string, string> = {
  "400": "bad request: the field or parameter named in the message",
  "401": "no valid credentials",
  "403": "refused (scope, host guard, cross-site or csrf)",
  "404": "not found",
};

export function openApiDocument(routes: readonly ApiRoute[], version: string): unknown {
  const components = z.toJSONSchema(apiRegistry, { uri: (id) => `#/components/schemas/${id}`, target: "draft-2020-12", unrepresentable: "any" }) as { schemas: Record<string, Record<string, unknown>> };
  for (const schema of Object.values(components.schemas)) delete schema["$schema"];
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const pathParameters = [...r.path.matchAll(/\{([^}]+)\}/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    const errors = Object.fromEntries(Object.entries(ERROR_STATUSES).map(([status, description]) => [status, { description, content: { "application/json": { schema: REF(apiRegistry.get(ErrorBody)!.id) } } }]));
    (paths[r.path] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      operationId: `${r.method.toLowerCase()}${r.path.replace("/api/v1", "").replace(/\{([^}]+)\}/g, "By-$1").replace(/[/-](\w)/g, (_m, c: string) => c.toUpperCase())}`,
      parameters: [...pathParameters, ...queryParameters(r.query)],
      ...(r.body !== null ? { requestBody: { required: true, content: { "application/json": { schema: schemaRef(r.body, "input") } } } } : {}),
      responses: { [String(r.status)]: { description: "ok", content: { "application/json": { schema: schemaRef(r.response, "output") } } }, ...errors },
      security: [{ bearer: [] }, {}],
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "withcache API", version, description: "The cache-host's JSON API. Errors are {\"error\": \"one line\"}. Tokens only in the Authorization header." },
    servers: [{ url: "/" }],
    paths,
    components: { ...components, securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "wc_… token (withcache token create)" } } },
  };
}
