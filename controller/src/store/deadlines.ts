/** A store call is answered within this time (503 after it). */
export const ANSWER_DEADLINE_MS = 5000
/** The database must be done with a call by this time: its own timeouts (statement, lock, idle in
 *  transaction) and a write's deadline check are set to it, below the answer deadline, so a call
 *  answered "unavailable" has ended in the database too. */
export const DB_DEADLINE_MS = 4000
/** SQLite waits this long for another process's write lock (the wait blocks the event loop). */
export const SQLITE_BUSY_MS = 2000
