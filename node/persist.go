package node

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"meshcomm/mesh"
)

// recordsBucket holds every record the node holds, its own and others', keyed by
// resource(16) | kind(1) | key, valued by mesh.EncodeRecord.
var recordsBucket = []byte("records")

// dbLockTimeout is how long opening the database waits for another process's lock.
const dbLockTimeout = 500 * time.Millisecond

// recordDB is the node's persistent record store: a bbolt file whose every committed
// transaction survives kill -9 and power loss (bbolt fsyncs each commit).
type recordDB struct {
	db  *bolt.DB
	log *slog.Logger
}

func openRecordDB(dataDir string, log *slog.Logger) (*recordDB, error) {
	path := filepath.Join(dataDir, DBFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: dbLockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w", dataDir, ErrDataDirBusy)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(recordsBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return &recordDB{db: db, log: log}, nil
}

func dbKey(k mesh.RecordKey) []byte {
	b := make([]byte, 0, mesh.IDBytes+1+len(k.Key))
	b = append(b, k.Resource[:]...)
	b = append(b, byte(k.Kind))
	return append(b, k.Key...)
}

// loadResult is what was found on disk at start-up.
type loadResult struct {
	Records []mesh.Record // live records, in key order
	Expired int           // dropped because past their expiry
	Corrupt int           // dropped because they did not decode or sat under the wrong key
}

// load reads every record, deleting the expired and the undecodable ones.
func (d *recordDB) load(nowMs int64) (loadResult, error) {
	var res loadResult
	err := d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(recordsBucket)
		var drop [][]byte
		err := b.ForEach(func(k, v []byte) error {
			rec, err := mesh.DecodeRecord(v)
			switch {
			case err != nil:
				d.log.Warn("node: dropping a stored record that does not decode", "reason", mesh.WireErrorReason(err), "err", err)
				res.Corrupt++
			case string(dbKey(rec.RecordKey())) != string(k):
				d.log.Warn("node: dropping a stored record filed under the wrong key")
				res.Corrupt++
			case rec.Expired(nowMs):
				res.Expired++
			default:
				res.Records = append(res.Records, rec)
				return nil
			}
			drop = append(drop, append([]byte(nil), k...))
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	return res, err
}

// change is one record to write (rec set) or delete (rec nil).
type change struct {
	key mesh.RecordKey
	rec *mesh.Record
}

// apply writes a batch of changes in one transaction.
func (d *recordDB) apply(changes []change) error {
	if len(changes) == 0 {
		return nil
	}
	return d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(recordsBucket)
		for _, c := range changes {
			k := dbKey(c.key)
			if c.rec == nil {
				if err := b.Delete(k); err != nil {
					return err
				}
				continue
			}
			v, err := mesh.EncodeRecord(c.rec)
			if err != nil {
				return fmt.Errorf("encoding record %s/%s: %w", c.key.Resource.Short(), c.key.Kind, err)
			}
			if err := b.Put(k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

func (d *recordDB) close() error { return d.db.Close() }

// ReadRecords opens the record database of a data directory that no running node holds and
// returns its records, expired ones included (for inspection and tests).
func ReadRecords(dataDir string) ([]mesh.Record, error) {
	path := filepath.Join(dataDir, DBFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: dbLockTimeout, ReadOnly: true})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w", dataDir, ErrDataDirBusy)
	}
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var out []mesh.Record
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(recordsBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			if rec, err := mesh.DecodeRecord(v); err == nil {
				out = append(out, rec)
			}
			return nil
		})
	})
	return out, err
}
