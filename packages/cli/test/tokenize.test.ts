// `w2s tokenize` as a user runs it: the bundled CLI in a child process. Expected ids are the facts
// of ../shared/data/tokenizers/README.md (the folders themselves are needed only by the tests that
// name them: skipped where absent, failing there under W2S_REQUIRE_DATA=1).
import { describe, expect, it } from 'vitest';
import { needsData, w2s } from './fixtures.js';

const tokenizers = needsData('the Hugging Face tokenizer CLI tests', 'tokenizers/llama2', 'tokenizers/qwen2');
const [llama2, qwen2] = tokenizers.paths;

const HELLO = 'Hello world, the cat';

describe('w2s tokenize', () => {
  it("prints each text's ids on a line (GPT-2 adds no BOS), or one JSON array per text with --json", () => {
    const plain = w2s('tokenize', '--tokenizer', 'gpt2', HELLO);
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stdout).toBe('15496 995 11 262 3797\n');
    const json = w2s('tokenize', '--tokenizer', 'gpt2', '--json', HELLO, 'Hello');
    expect(json.status, json.stderr).toBe(0);
    expect(json.stdout).toBe('[15496,995,11,262,3797]\n[15496]\n');
  });

  tokenizers.it('reads a Hugging Face folder: Llama 2 adds BOS, Qwen2 (vocab.json + merges.txt) adds nothing and finds special tokens in text', () => {
    const llama = w2s('tokenize', '--tokenizer', llama2, '--json', HELLO);
    expect(llama.status, llama.stderr).toBe(0);
    expect(llama.stdout).toBe('[1,15043,3186,29892,278,6635]\n');
    const qwen = w2s('tokenize', '--tokenizer', qwen2, '--json', HELLO, '<|im_start|><|im_end|>');
    expect(qwen.status, qwen.stderr).toBe(0);
    expect(qwen.stdout).toBe('[9707,1879,11,279,8251]\n[151644,151645]\n');
  });

  it('rejects a missing tokenizer, an unknown one (naming --tokenizer) and no text', () => {
    const missing = w2s('tokenize', HELLO);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/required option '--tokenizer <spec>' not specified/);
    const unknown = w2s('tokenize', '--tokenizer', 'no-such-tokenizer', HELLO);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/^w2s: --tokenizer: unknown tokenizer "no-such-tokenizer": expected 'gpt2', 'byte'/);
    const none = w2s('tokenize', '--tokenizer', 'gpt2');
    expect(none.status).not.toBe(0);
    expect(none.stderr).toMatch(/missing required argument 'text'/);
  });
});
