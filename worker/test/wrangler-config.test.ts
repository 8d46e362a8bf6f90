import { describe, expect, it } from "vitest";
import rootReadme from "../../README.md?raw";
import workerReadme from "../README.md?raw";
import wranglerText from "../wrangler.jsonc?raw";
import { parseJsonc } from "./jsonc";

interface WranglerConfig {
  vars?: Record<string, string>;
  env?: Record<string, { vars?: Record<string, string> }>;
}

const config = parseJsonc(wranglerText) as WranglerConfig;
const devVars = config.vars ?? {};
const production = config.env?.production?.vars ?? {};
/** Set with `wrangler secret put … --env production`, never written in the config. */
const SECRETS = ["INTERNAL_API_KEYS", "BETTER_AUTH_SECRET"];

describe("wrangler.jsonc keeps development values out of production", () => {
  it("marks the top level as development", () => {
    expect(devVars.ENVIRONMENT).toBe("development");
  });

  it("sets ENVIRONMENT=production in the production environment", () => {
    expect(production.ENVIRONMENT).toBe("production");
  });

  it("gives production none of the development values", () => {
    const devValues = new Set(Object.values(devVars));
    const leaked = Object.entries(production).filter(([, value]) => devValues.has(value));
    expect(leaked).toEqual([]);
  });

  it("writes no secret into production's vars", () => {
    expect(Object.keys(production).filter((name) => SECRETS.includes(name))).toEqual([]);
  });

  it("parses comments and URLs in strings as wrangler does", () => {
    expect(parseJsonc('{"a": "http://x//y", /* c */ "b": [1, 2,], // d\n}')).toEqual({ a: "http://x//y", b: [1, 2] });
  });
});

describe("the READMEs' production commands name the production environment", () => {
  const commands = (text: string) =>
    text
      .split("\n")
      .filter((line) => /wrangler (deploy|secret put|d1 migrations apply|d1 execute)/.test(line))
      .filter((line) => !line.includes("--local"));

  it.each([
    ["README.md", rootReadme],
    ["worker/README.md", workerReadme],
  ])("%s", (_name, text) => {
    const found = commands(text);
    expect(found.filter((line) => !line.includes("--env production"))).toEqual([]);
  });

  it("finds the commands it checks", () => {
    expect(commands(workerReadme).length).toBeGreaterThanOrEqual(4);
  });
});
