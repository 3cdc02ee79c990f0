import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isReadOnlySql } from '../../../src/authz/sql-read-only.js';

test('accepts one read statement of the allowed kinds, in any case, with one trailing semicolon and comments', () => {
  for (const sql of [
    'SELECT * FROM cpu',
    'select host, avg(usage) from cpu group by host;',
    'SHOW TABLES',
    'show databases ;  ',
    'DESC TABLE cpu',
    'DESCRIBE cpu',
    'EXPLAIN SELECT * FROM cpu',
    "TQL EVAL (0, 10, '5s') sum(rate(http_requests_total[1m]))",
    "tql explain (0, 10, '5s') up",
    'SELECT \'a;b\' AS x, "we;ird" FROM `t;1`',
    "SELECT 'it''s' FROM t",
    '/* a comment; with a semicolon */ SELECT 1',
    'SELECT 1 -- trailing comment; DROP TABLE t',
    'SELECT 1 --\n',
    "SELECT * FROM t WHERE note = 'INTO the wild'",
    'SELECT "into" FROM t',
  ]) {
    assert.equal(isReadOnlySql(sql), true, sql);
  }
});

test('refuses everything else: writes, stacked statements, INTO, WITH, EXPLAIN ANALYZE, ambiguous comments and quoting', () => {
  for (const sql of [
    '',
    ';',
    '   -- only a comment',
    'INSERT INTO cpu VALUES (1)',
    'DROP TABLE cpu',
    'SELECT 1; DROP TABLE cpu',
    'SELECT 1;; ',
    'SELECT 1; SELECT 2',
    'SELECT * INTO backup FROM cpu',
    "SELECT * FROM cpu INTO OUTFILE '/tmp/x'",
    'select * from cpu into dumpfile "/tmp/x"',
    'WITH x AS (SELECT 1) SELECT * FROM x',
    'WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x',
    '(SELECT 1)',
    'EXPLAIN ANALYZE SELECT * FROM cpu',
    'explain analyse select 1',
    'EXPLAIN (ANALYZE) SELECT 1',
    'EXPLAIN VERBOSE ANALYZE DELETE FROM t',
    "TQL ANALYZE (0, 10, '5s') up",
    "TQL EVAL (0, 10, '5s') up; DROP TABLE t",
    'TQL',
    'SHOWX TABLES',
    'SELECTED FROM t',
    "SELECT 'a\\'; DROP TABLE t; --'",
    'SELECT "a\\"; DROP TABLE t; --"',
    "SELECT 'unterminated",
    'SELECT 1 /* unterminated',
    'SELECT 1 /* nested /* */ ; DROP TABLE t */',
    'SELECT 1 /*! ; DROP TABLE t */',
    'SELECT 1 --1; DROP TABLE t',
    'SELECT 1 --\u00a0; DROP TABLE t',
    'SELECT 1 # ; DROP TABLE t',
    'SELECT $$; DROP TABLE t; $$',
    'SELECT $tag$ x $tag$',
    "SELECT E'\\x27; DROP TABLE t'",
    '/* hide */ DELETE FROM t',
    'DEL/**/ETE FROM t',
    'SELECT 1\n;\nDELETE FROM t',
  ]) {
    assert.equal(isReadOnlySql(sql), false, sql);
  }
});
