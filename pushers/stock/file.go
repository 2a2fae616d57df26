package stock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// FileTarget is where the vendre-file sink puts a finished file.
type FileTarget interface {
	// Put stores data as name, atomically: under a temporary name first,
	// renamed to name when complete.
	Put(ctx context.Context, name string, data []byte) error
	// String names the target in logs, without credentials.
	String() string
}

// FileSink is Vendre's documented stock import (shop-model.md,
// "vendre-file"): a UTF-8, tab-separated file without header, one row
// "<product number>\t<available>" per product (available summed over the
// counted warehouses, never empty), named
// stock-<UTC yyyymmddThhmmssZ>-<6-digit sequence>.txt so that Vendre,
// reading files in name order, reads them in the order written.
type FileSink struct {
	targets []FileTarget
	seq     func(context.Context) (int64, error)
	now     func() time.Time
}

// NewFileSink returns a sink writing each batch as one file to every
// target. seq numbers the files (see RedisSeq; nil: a counter in this
// process).
func NewFileSink(seq func(context.Context) (int64, error), targets ...FileTarget) *FileSink {
	if seq == nil {
		var n atomic.Int64
		seq = func(context.Context) (int64, error) { return n.Add(1), nil }
	}
	return &FileSink{targets: targets, seq: seq, now: time.Now}
}

// RedisSeq returns a file sequence kept in Redis under key, shared by the
// replicas and surviving restarts.
func RedisSeq(rdb redis.UniversalClient, key string) func(context.Context) (int64, error) {
	return func(ctx context.Context) (int64, error) { return rdb.Incr(ctx, key).Result() }
}

// Name is "vendre-file".
func (s *FileSink) Name() string { return "vendre-file" }

// Rate is at most two files a second: Vendre polls, it does not need more.
func (s *FileSink) Rate() rate.Limit { return 2 }

// FileName is the name of a stock file written at t with sequence n.
func FileName(t time.Time, n int64) string {
	return fmt.Sprintf("stock-%s-%06d.txt", t.UTC().Format("20060102T150405Z"), n%1_000_000)
}

// Encode returns the file's content for b. Products whose number holds a
// tab or a line break cannot be written and are left out.
func Encode(b Batch) []byte {
	var buf bytes.Buffer
	for _, it := range b.Items {
		if strings.ContainsAny(it.Product, "\t\r\n") || it.Product == "" {
			continue
		}
		buf.WriteString(it.Product)
		buf.WriteByte('\t')
		buf.WriteString(strconv.FormatInt(it.Total(), 10))
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// Push writes b as one file to every target.
func (s *FileSink) Push(ctx context.Context, b Batch) (Report, error) {
	n, err := s.seq(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("vendre-file: sequence: %w", err)
	}
	name := FileName(s.now(), n)
	data := Encode(b)
	var errs []error
	for _, t := range s.targets {
		if err := t.Put(ctx, name, data); err != nil {
			errs = append(errs, fmt.Errorf("vendre-file: %s: %w", t, err))
		}
	}
	return Report{}, errors.Join(errs...)
}

// tempName is the name a file is written under before its rename: hidden,
// and not ending in .txt, so a poller never picks up half a file.
func tempName(name string) string { return "." + name + ".part" }

// DirTarget writes files to a local (or mounted) directory.
type DirTarget struct {
	Dir string
}

// String is the directory.
func (d DirTarget) String() string { return "dir " + d.Dir }

// Put writes the file, syncs it, renames it into place and syncs the
// directory, so a crash leaves either no file or the whole file.
func (d DirTarget) Put(_ context.Context, name string, data []byte) error {
	tmp := filepath.Join(d.Dir, tempName(name))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644) // #nosec G304 G302 -- the operator's VENDRE_STOCK_DIR and our own file name; 0644 so the shop's file importer can read it
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(d.Dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	if dir, err := os.Open(d.Dir); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}

// FTPTarget uploads files to the FTP folder Vendre polls
// (VENDRE_STOCK_FTP_URL, ftp://user:pass@host:port/folder), one connection
// per file: STOR under a temporary name, then RNFR/RNTO.
type FTPTarget struct {
	u       *url.URL
	Timeout time.Duration // dial and each command; default 15s
}

// NewFTPTarget parses raw, an ftp:// URL with credentials and a folder.
func NewFTPTarget(raw string) (*FTPTarget, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "ftp" || u.Host == "" {
		return nil, errors.New("want ftp://user:pass@host:port/folder")
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "21")
	}
	return &FTPTarget{u: u, Timeout: 15 * time.Second}, nil
}

// String is the URL without its password.
func (t *FTPTarget) String() string { return t.u.Redacted() }

// Put uploads the file and renames it into place.
func (t *FTPTarget) Put(ctx context.Context, name string, data []byte) error {
	c, err := ftp.Dial(t.u.Host, ftp.DialWithContext(ctx), ftp.DialWithTimeout(t.Timeout))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Quit()
	user := t.u.User.Username()
	pass, _ := t.u.User.Password()
	if user == "" {
		user, pass = "anonymous", "anonymous"
	}
	if err := c.Login(user, pass); err != nil {
		return fmt.Errorf("login as %s: %w", user, err)
	}
	dir := t.u.Path
	if dir != "" && dir != "/" {
		if err := c.ChangeDir(dir); err != nil {
			return fmt.Errorf("cd %s: %w", dir, err)
		}
	}
	tmp := tempName(name)
	if err := c.Stor(tmp, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := c.Rename(tmp, name); err != nil {
		c.Delete(tmp)
		return fmt.Errorf("rename: %w", err)
	}
	return nil
}
