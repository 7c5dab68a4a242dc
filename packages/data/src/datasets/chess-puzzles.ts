// Lichess puzzles (chess/lichess_puzzles.csv, no header: FEN,Moves,Rating; moves in UCI, the first
// being the opponent's move that sets up the puzzle). After applying that first move (chess.js),
// the example shows the position and a candidate move: the puzzle's solution move (label 1) or a
// random other legal move (label 0), with probability ½ each.
// "Position (FEN): {fen}\nMove: {uci}".
import { Chess, type Move } from 'chess.js';
import { ExampleCollector } from '../collect.js';
import { choice, mulberry32 } from '@w2s/random';
import { datasetPath, delimitedRecords } from '../readers.js';
import type { DatasetSpec } from '../types.js';

function uci(move: Pick<Move, 'from' | 'to' | 'promotion'>): string {
  return `${move.from}${move.to}${move.promotion ?? ''}`;
}

function uciMove(move: string): { from: string; to: string; promotion?: string } {
  return { from: move.slice(0, 2), to: move.slice(2, 4), ...(move.length > 4 ? { promotion: move[4] } : {}) };
}

function play(game: Chess, move: string): boolean {
  try {
    game.move(uciMove(move));
    return true;
  } catch {
    return false;
  }
}

export const chessPuzzles: DatasetSpec = {
  name: 'chess_puzzles',
  description: "Lichess puzzles: is this move the puzzle's solution (or a random other legal move)?",
  license: 'CC0',
  async load({ dataDir, seed }) {
    const file = datasetPath(dataDir, 'chess/lichess_puzzles.csv');
    const out = new ExampleCollector('chess_puzzles');
    out.file(file);
    const uniform = mulberry32(seed);
    for (const { fields, line } of delimitedRecords(file, { delimiter: ',', quoted: true })) {
      const [fen, movesText] = fields;
      const moves = (movesText ?? '').trim().split(/\s+/);
      if (!fen || moves.length < 2) {
        out.row({ skip: 'missing position or moves' });
        continue;
      }
      let game: Chess;
      try {
        game = new Chess(fen);
      } catch {
        out.row({ skip: 'invalid position' });
        continue;
      }
      if (!play(game, moves[0])) {
        out.row({ skip: 'illegal setup move' });
        continue;
      }
      // Verbose move lists cost ~10x the SAN list: find the solution's SAN by playing it, and turn
      // a random other SAN move into UCI by playing that one.
      const position = game.fen();
      let solution: Move;
      try {
        solution = game.move(uciMove(moves[1]));
      } catch {
        out.row({ skip: 'illegal solution move' });
        continue;
      }
      game.undo();
      const others = game.moves().filter((san) => san !== solution.san);
      const label = others.length === 0 || uniform() < 0.5 ? 1 : 0;
      const move = label ? uci(solution) : uci(game.move(choice(others, uniform)));
      out.row({ id: `chess_puzzles/${line}`, text: `Position (FEN): ${position}\nMove: ${move}`, label });
    }
    return out.done();
  },
};
