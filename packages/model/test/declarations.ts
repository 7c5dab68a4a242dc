// Reads the field names of a declaration from the three languages it is written in, as text, for
// native-declarations.test.ts: a TypeScript interface or type (with the TypeScript compiler's
// parser), a C++ struct, and the keys an N-API binding function reads from a JS object. Every
// reader returns the declaration's leaf fields as dotted paths ('architecture.positions.theta',
// 'vocab_size'): nested records are followed, and a union contributes the fields of every member.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../../../tests/support/data.js';

/** A file's text, by its path from the repository root. */
export function source(path: string): string {
  return readFileSync(join(repoRoot, path), 'utf8');
}

// ---------------------------------------------------------------------------------------------
// TypeScript

type TsDeclaration = ts.InterfaceDeclaration | ts.TypeAliasDeclaration;

/**
 * The leaf fields of the interface or type alias `name`, declared in one of `files`; type names
 * used by its fields, or that it extends or aliases, are looked up in the same files (so a record
 * split over several declarations, or files, is followed), and any other type (number, Int32Array,
 * a string union, a type declared in none of `files`) is a leaf or contributes no fields.
 */
export function tsFields(files: readonly string[], name: string): string[] {
  const declarations = new Map<string, TsDeclaration>();
  for (const file of files) {
    const sf = ts.createSourceFile(file, source(file), ts.ScriptTarget.Latest, true);
    sf.forEachChild((node) => {
      if (ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) declarations.set(node.name.text, node);
    });
  }
  const root = declarations.get(name);
  if (!root) throw new Error(`no interface or type ${name} in ${files.join(', ')}`);

  /** The properties of a type, with their types; empty for a type without fields of its own. */
  const properties = (type: ts.TypeNode | TsDeclaration, seen: ReadonlySet<string>): Map<string, ts.TypeNode[]> => {
    const out = new Map<string, ts.TypeNode[]>();
    const add = (members: ts.NodeArray<ts.TypeElement>) => {
      for (const m of members)
        if (ts.isPropertySignature(m) && m.type) out.set(m.name.getText(), [...(out.get(m.name.getText()) ?? []), m.type]);
    };
    const merge = (parts: readonly ts.TypeNode[]) => {
      for (const part of parts)
        for (const [key, types] of properties(part, seen)) out.set(key, [...(out.get(key) ?? []), ...types]);
    };
    if (ts.isInterfaceDeclaration(type)) {
      for (const clause of type.heritageClauses ?? [])
        for (const base of clause.types) {
          const referenced = declarations.get(base.expression.getText());
          if (referenced && !seen.has(base.expression.getText()))
            for (const [key, types] of properties(referenced, new Set([...seen, base.expression.getText()]))) out.set(key, types);
        }
      add(type.members);
    }
    else if (ts.isTypeAliasDeclaration(type)) merge([type.type]);
    else if (ts.isTypeLiteralNode(type)) add(type.members);
    else if (ts.isUnionTypeNode(type) || ts.isIntersectionTypeNode(type)) merge(type.types);
    else if (ts.isParenthesizedTypeNode(type)) merge([type.type]);
    else if (ts.isTypeReferenceNode(type)) {
      const referenced = declarations.get(type.typeName.getText());
      if (referenced && !seen.has(type.typeName.getText()))
        for (const [key, types] of properties(referenced, new Set([...seen, type.typeName.getText()]))) out.set(key, types);
    }
    return out;
  };

  const leaves: string[] = [];
  const walk = (type: ts.TypeNode | TsDeclaration, prefix: string, seen: ReadonlySet<string>) => {
    for (const [key, types] of properties(type, seen)) {
      const path = prefix + key;
      const nested = types.filter((t) => properties(t, seen).size > 0);
      if (nested.length === 0) leaves.push(path);
      else for (const t of nested) walk(t, `${path}.`, seen);
    }
  };
  walk(root, '', new Set([name]));
  return [...new Set(leaves)].sort();
}

// ---------------------------------------------------------------------------------------------
// C++

/** Text without C++ comments, line and block (string literals left as they are). */
function withoutComments(text: string): string {
  return text.replace(/"(?:\\.|[^"\\])*"|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (m) => (m.startsWith('"') ? m : ' '));
}

/** The index just past the brace that closes the one at `open`, skipping string literals. */
function closingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i + 1;
  }
  throw new Error(`unbalanced braces from offset ${open}`);
}

/** The members of every struct in `headers`, in order: name -> [member, its type's last word]. */
function cppStructs(headers: readonly string[]): Map<string, [string, string][]> {
  const structs = new Map<string, [string, string][]>();
  for (const header of headers) {
    const text = withoutComments(source(header));
    for (const m of text.matchAll(/\bstruct\s+(\w+)\s*\{/g)) {
      const open = m.index + m[0].length - 1;
      let body = text.slice(open + 1, closingBrace(text, open) - 1);
      // Inline function bodies and nested blocks end a declaration like a ';'.
      while (/\{[^{}]*\}/.test(body)) body = body.replace(/\{[^{}]*\}/g, ';');
      const members: [string, string][] = [];
      for (const statement of body.split(';').map((s) => s.trim())) {
        if (!statement || statement.includes('(') || /^(?:using|enum|struct|friend|static)\b/.test(statement)) continue;
        const [first, ...more] = statement.split(',').map((d) => d.replace(/=.*$/s, '').trim());
        const words = first.match(/[\w:]+/g) ?? [];
        if (words.length < 2) continue;
        const type = words[words.length - 2].split('::').pop()!;
        for (const declarator of [first, ...more]) members.push([declarator.match(/(\w+)\s*(?:\[[^\]]*\])?$/)![1], type]);
      }
      structs.set(m[1], members);
    }
  }
  return structs;
}

/** The leaf members of struct `name` (declared in one of `headers`), members of struct type followed. */
export function cppFields(headers: readonly string[], name: string): string[] {
  const structs = cppStructs(headers);
  if (!structs.has(name)) throw new Error(`no struct ${name} in ${headers.join(', ')}`);
  const leaves: string[] = [];
  const walk = (struct: string, prefix: string) => {
    for (const [member, type] of structs.get(struct)!) {
      if (structs.has(type)) walk(type, `${prefix}${member}.`);
      else leaves.push(prefix + member);
    }
  };
  walk(name, '');
  return leaves.sort();
}

/** The body of the C++ function `name` defined in `text` (the first definition). */
function functionBody(text: string, name: string, file: string): string {
  const head = new RegExp(`^[\\w:<>&*\\s]*\\b${name}\\s*\\([^;{]*\\)\\s*(?:const\\s*)?\\{`, 'm').exec(text);
  if (!head) throw new Error(`no function ${name} in ${file}`);
  const open = head.index + head[0].length - 1;
  return text.slice(open, closingBrace(text, open));
}

/** Splits a call's argument text at its top-level commas. */
function splitArguments(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 0) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(text.slice(start).trim());
  return out;
}

/**
 * The keys the binding functions `functions` (in `file`) read from a JS object, as dotted paths
 * below `root`. The binding names what it reads for its messages: an object it descends into is
 * `object(env, value, "config.head")` (or a name built from string variables, such as
 * `name + ".positions"`), and a key it reads is `X.Get("key")`. `known` gives the paths of
 * parameters (an object parameter, a name parameter) that the function body cannot tell.
 * Returns the leaves: keys that are not themselves objects the functions descend into.
 */
export function bindingReads(file: string, functions: readonly string[], root: string, known: Record<string, string> = {}): string[] {
  const text = withoutComments(source(file));
  const reads = new Set<string>();
  for (const fn of functions) {
    const body = functionBody(text, fn, file);
    const paths = new Map<string, string>(Object.entries(known)); // variable -> path (objects, values, names)
    const evaluate = (expression: string): string | undefined => {
      let out = '';
      for (const part of expression.split('+').map((p) => p.trim())) {
        const literal = /^"([^"]*)"$/.exec(part);
        const get = /^(\w+)\.Get\("(\w+)"\)$/.exec(part);
        if (literal) out += literal[1];
        else if (get && paths.has(get[1])) out += `${paths.get(get[1])}.${get[2]}`;
        else if (paths.has(part)) out += paths.get(part);
        else return undefined;
      }
      return out;
    };
    // Definitions, in order: strings (names), objects (object(env, value, name)), values (X.Get("k")).
    for (const m of body.matchAll(/\b(?:const\s+)?(?:std::string|Napi::Object|Napi::Value|auto)\s+(\w+)\s*=\s*([^;]+);/g)) {
      const [, variable, init] = m;
      const call = /^object\(([\s\S]*)\)$/.exec(init.trim());
      const path = call ? evaluate(splitArguments(call[1])[2] ?? '') : evaluate(init.trim());
      if (path !== undefined) paths.set(variable, path);
    }
    for (const m of body.matchAll(/\b(\w+)\.Get\("(\w+)"\)/g)) {
      const owner = paths.get(m[1]);
      if (owner === undefined) throw new Error(`${file} ${fn}: cannot tell which object ${m[1]} is (reading "${m[2]}")`);
      reads.add(`${owner}.${m[2]}`);
    }
  }
  const prefix = `${root}.`;
  const below = [...reads].filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length));
  return below.filter((p) => !below.some((q) => q.startsWith(`${p}.`))).sort();
}

/** camelCase -> snake_case, segment by segment ('architecture.tiedEmbeddings' -> 'architecture.tied_embeddings'). */
export function snakeCase(path: string): string {
  return path.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}
