/**
 * Validates the Worker's answers against contract/worker-internal-api.openapi.json: the
 * schema declared for that path, method and status (an undeclared status fails too).
 */
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import type { ValidateFunction } from "ajv";
import contract from "../../contract/worker-internal-api.openapi.json";

const BASE = "https://contract.invalid/worker-internal-api";
type Json = Record<string, unknown>;

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
ajv.addSchema({ ...(contract as Json), $id: BASE });

const cache = new Map<string, ValidateFunction>();

function pointer(...parts: string[]): string {
  return parts.map((p) => p.replaceAll("~", "~0").replaceAll("/", "~1")).join("/");
}

function resolveResponse(path: string, method: string, status: number): string {
  const operation = (contract.paths as Record<string, Record<string, { responses: Record<string, Json> }>>)[path]?.[method];
  if (!operation) throw new Error(`contract has no ${method.toUpperCase()} ${path}`);
  const response = operation.responses[String(status)];
  if (!response) throw new Error(`contract declares no ${status} for ${method.toUpperCase()} ${path}`);
  const ref = response.$ref as string | undefined;
  if (ref) return `${ref.slice(1)}/content/application~1json/schema`;
  return `/${pointer("paths", path, method, "responses", String(status), "content", "application/json", "schema")}`;
}

/** A validator for one schema of the contract, e.g. `schema("Organization")`. */
export function schema(name: string): ValidateFunction {
  return compiled(`/components/schemas/${name}`);
}

function compiled(jsonPointer: string): ValidateFunction {
  let validate = cache.get(jsonPointer);
  if (!validate) {
    validate = ajv.compile({ $ref: `${BASE}#${jsonPointer}` });
    cache.set(jsonPointer, validate);
  }
  return validate;
}

/** Throws unless `body` matches the contract's schema for (path template, method, status). */
export function assertContract(pathTemplate: string, method: string, status: number, body: unknown): void {
  const validate = compiled(resolveResponse(pathTemplate, method.toLowerCase(), status));
  if (!validate(body)) {
    throw new Error(
      `answer does not match the contract for ${method} ${pathTemplate} ${status}: ` +
        `${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`,
    );
  }
}

/** Whether `value` matches a component schema, for the validator's own tests. */
export function matches(name: string, value: unknown): boolean {
  return schema(name)(value) as boolean;
}
