// Command clientv3-bench is the Go side of bench/: one workload, run with etcd's own clientv3
// the way its documentation shows, measured as worker.ts measures the Node clients. It speaks the
// same protocol: JSON lines on stdout, the last one {"result": {...}} or {"error": "..."};
// "start" and "stop" lines on stdin drive the fan-in watcher; stdin closing means the
// orchestrator died, and the process exits.
//
//	clientv3-bench <workload> <endpoint> <params JSON>
//
// Built by bench/go-worker.ts with Debian's Go and etcd sources (GOPATH mode, no network).
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/ioutil"
	"math"
	"math/rand"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.uber.org/zap"
)

// Calls that must start and finish inside a window for its figures to count (as worker.ts).
const minSamples = 20

// The fan-in prefix, as workloads.ts has it.
const fanPrefix = "fan/"

// The catch-up backlog's prefix, as workloads.ts has it.
const backlogPrefix = "backlog/"

// params holds every workload's parameters; each workload reads its own (workloads.ts).
type params struct {
	Kind             string `json:"kind"`
	Concurrency      int    `json:"concurrency"`
	Keys             int    `json:"keys"`
	ValueBytes       int    `json:"valueBytes"`
	WarmupMs         int    `json:"warmupMs"`
	WarmupCalls      int64  `json:"warmupCalls"`
	DurationMs       int    `json:"durationMs"`
	Count            int    `json:"count"`
	TTLSeconds       int64  `json:"ttlSeconds"`
	BaselineMs       int    `json:"baselineMs"`
	WindowMs         int    `json:"windowMs"`
	WarmMs           int    `json:"warmMs"`
	GrantConcurrency int    `json:"grantConcurrency"`
	ServerPid        int    `json:"serverPid"`
	StartRevision    int64  `json:"startRevision"`
	Events           int    `json:"events"`
	TLS              *struct {
		CA   string `json:"ca"`
		Cert string `json:"cert"`
		Key  string `json:"key"`
	} `json:"tls"`
}

type metrics map[string]float64

var out = bufio.NewWriter(os.Stdout)
var outMu sync.Mutex

func emit(line interface{}) {
	outMu.Lock()
	defer outMu.Unlock()
	data, _ := json.Marshal(line)
	out.Write(data)
	out.WriteByte('\n')
	out.Flush()
}

// Lines from the orchestrator, in order.
var lines = make(chan string, 16)

func readStdin() {
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		lines <- strings.TrimSpace(scanner.Text())
	}
	os.Exit(3)
}

func waitForLine(expected string) {
	for line := range lines {
		if line == expected {
			return
		}
	}
}

// cpuMicros is user + system CPU of this process so far.
func cpuMicros() float64 {
	var usage syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	return float64(usage.Utime.Nano()+usage.Stime.Nano()) / 1000
}

// processCpuMicros is user + system CPU of another process (etcd) so far, as measure.ts reads
// it: /proc counts it in ticks of 10 ms. NaN without a pid or when it cannot be read.
func processCpuMicros(pid int) float64 {
	if pid <= 0 {
		return math.NaN()
	}
	stat, err := ioutil.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return math.NaN()
	}
	text := string(stat)
	fields := strings.Split(text[strings.LastIndex(text, ")")+2:], " ")
	if len(fields) < 13 {
		return math.NaN()
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return math.NaN()
	}
	return (utime + stime) * 10000
}

// peakRssMb is VmHWM, the high-water mark of this process's own memory. Not getrusage's maxrss:
// Linux keeps that across exec, so it would report the orchestrator's RSS at the fork.
func peakRssMb() float64 {
	status, err := ioutil.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				fields := strings.Fields(line)
				if len(fields) >= 2 {
					kb, _ := strconv.ParseFloat(fields[1], 64)
					return kb / 1024
				}
			}
		}
	}
	var usage syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	return float64(usage.Maxrss) / 1024
}

// settle collects garbage, as worker.ts does with gc(), then reads RSS, the live heap and the
// goroutine stacks. Stacks are not in the heap figure; clientv3 runs goroutines per watcher and
// per kept lease, so they are reported beside it (a Node client keeps such state in its heap).
func settle() (rss float64, heap float64, stacks float64) {
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	runtime.GC()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	statm, err := ioutil.ReadFile("/proc/self/statm")
	if err == nil {
		fields := strings.Fields(string(statm))
		if len(fields) > 1 {
			pages, _ := strconv.ParseFloat(fields[1], 64)
			rss = pages * float64(os.Getpagesize())
		}
	}
	return rss, float64(stats.HeapAlloc), float64(stats.StackInuse)
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	index := int(math.Ceil(q*float64(len(sorted)))) - 1
	if index < 0 {
		index = 0
	}
	if index >= len(sorted) {
		index = len(sorted) - 1
	}
	return sorted[index]
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) / 1e6 }

type callersRun struct {
	ops         int64
	seconds     float64
	cpuUs       float64
	serverCpuUs float64
	latencies   []float64
}

// runCallers runs `callers` loops of op on random keys: a warm-up, then a measured window that
// grows (up to ten times its length) until enough calls that started in it have finished.
func runCallers(callers int, keys []string, op func(string) error, warmupMs int, warmupCalls int64, durationMs int, serverPid int) (callersRun, error) {
	var measuring, stopping int32
	var windowStartNs int64 = math.MaxInt64
	var calls, ops int64
	var mu sync.Mutex
	var latencies []float64
	var firstErr error
	var wg sync.WaitGroup
	origin := time.Now()
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			random := rand.New(rand.NewSource(seed))
			var mine []float64
			for atomic.LoadInt32(&stopping) == 0 {
				key := keys[random.Intn(len(keys))]
				started := time.Since(origin).Nanoseconds()
				if err := op(key); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					atomic.StoreInt32(&stopping, 1)
					return
				}
				atomic.AddInt64(&calls, 1)
				if atomic.LoadInt32(&measuring) == 1 {
					atomic.AddInt64(&ops, 1)
					if started >= atomic.LoadInt64(&windowStartNs) {
						mine = append(mine, float64(time.Since(origin).Nanoseconds()-started)/1e6)
					}
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}(int64(i) + time.Now().UnixNano())
	}
	// As in worker.ts: at least warmupMs, and until warmupCalls calls have finished.
	warmedBy := time.Now().Add(time.Duration(10*durationMs) * time.Millisecond)
	time.Sleep(time.Duration(warmupMs) * time.Millisecond)
	for atomic.LoadInt64(&calls) < warmupCalls && atomic.LoadInt32(&stopping) == 0 && time.Now().Before(warmedBy) {
		time.Sleep(20 * time.Millisecond)
	}
	atomic.StoreInt32(&measuring, 1)
	windowStart := time.Now()
	atomic.StoreInt64(&windowStartNs, time.Since(origin).Nanoseconds())
	cpuStart := cpuMicros()
	serverCpuStart := processCpuMicros(serverPid)
	time.Sleep(time.Duration(durationMs) * time.Millisecond)
	// Latencies are merged when the loops end; count finished calls to know when to stop.
	capAt := windowStart.Add(time.Duration(10*durationMs) * time.Millisecond)
	for atomic.LoadInt64(&ops) < minSamples && time.Now().Before(capAt) && atomic.LoadInt32(&stopping) == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	atomic.StoreInt32(&measuring, 0)
	seconds := time.Since(windowStart).Seconds()
	cpuUs := cpuMicros() - cpuStart
	serverCpuUs := processCpuMicros(serverPid) - serverCpuStart
	opsDone := atomic.LoadInt64(&ops)
	atomic.StoreInt32(&stopping, 1)
	wg.Wait()
	if firstErr != nil {
		return callersRun{}, firstErr
	}
	if len(latencies) == 0 {
		return callersRun{}, fmt.Errorf("no call that started in the %d ms window finished within %d ms", durationMs, 10*durationMs)
	}
	sort.Float64s(latencies)
	return callersRun{ops: opsDone, seconds: seconds, cpuUs: cpuUs, serverCpuUs: serverCpuUs, latencies: latencies}, nil
}

func keysOf(prefix string, count int) []string {
	keys := make([]string, count)
	for i := range keys {
		keys[i] = prefix + strconv.Itoa(i)
	}
	return keys
}

func kvWorkload(client *clientv3.Client, p params) (metrics, error) {
	keys := keysOf("k/", p.Keys)
	value := strings.Repeat("v", p.ValueBytes)
	ctx := context.Background()
	var op func(string) error
	switch p.Kind {
	case "put":
		op = func(key string) error {
			_, err := client.Put(ctx, key, value)
			return err
		}
	case "txn":
		op = func(key string) error {
			_, err := client.Txn(ctx).
				If(clientv3.Compare(clientv3.Version(key), ">", 0)).
				Then(clientv3.OpPut(key, value)).
				Commit()
			return err
		}
	case "get-serializable":
		op = func(key string) error {
			_, err := client.Get(ctx, key, clientv3.WithSerializable())
			return err
		}
	default:
		op = func(key string) error {
			_, err := client.Get(ctx, key)
			return err
		}
	}
	if _, err := client.Get(ctx, "warm-up"); err != nil {
		return nil, err
	}
	run, err := runCallers(p.Concurrency, keys, op, p.WarmupMs, p.WarmupCalls, p.DurationMs, p.ServerPid)
	if err != nil {
		return nil, err
	}
	return metrics{
		"opsPerSec":      float64(run.ops) / run.seconds,
		"p50Ms":          quantile(run.latencies, 0.5),
		"p99Ms":          quantile(run.latencies, 0.99),
		"cpuUsPerOp":     run.cpuUs / float64(run.ops),
		"etcdCpuUsPerOp": run.serverCpuUs / float64(run.ops),
		"peakRssMb":      peakRssMb(),
	}, nil
}

// sentAtMs reads the writer's send time (epoch ms, fractional) from the head of a fan-in value:
// "<ms>;" then padding. NaN when the value carries none.
func sentAtMs(value []byte) float64 {
	end := 0
	for end < len(value) && end < 24 && value[end] != ';' {
		end++
	}
	if end == len(value) || end == 24 {
		return math.NaN()
	}
	ms, err := strconv.ParseFloat(string(value[:end]), 64)
	if err != nil {
		return math.NaN()
	}
	return ms
}

func epochMs() float64 { return float64(time.Now().UnixNano()) / 1e6 }

func fanInWatcher(client *clientv3.Client) (metrics, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch := client.Watch(ctx, fanPrefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	if created, ok := <-watch; !ok || created.Err() != nil {
		if !ok {
			return nil, errors.New("fan-in watch not created: channel closed")
		}
		return nil, fmt.Errorf("fan-in watch not created: %v", created.Err())
	}
	var mu sync.Mutex
	counting := false
	events := 0
	var delays []float64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for response := range watch {
			now := epochMs()
			mu.Lock()
			if counting {
				events += len(response.Events)
				for _, event := range response.Events {
					if sent := sentAtMs(event.Kv.Value); !math.IsNaN(sent) {
						delays = append(delays, now-sent)
					}
				}
			}
			mu.Unlock()
		}
	}()
	emit(map[string]bool{"ready": true})
	waitForLine("start")
	mu.Lock()
	counting = true
	mu.Unlock()
	started := time.Now()
	cpuStart := cpuMicros()
	waitForLine("stop")
	mu.Lock()
	counting = false
	delivered := events
	latencies := delays
	mu.Unlock()
	cpuUs := cpuMicros() - cpuStart
	seconds := time.Since(started).Seconds()
	cancel()
	<-done
	sort.Float64s(latencies)
	perEvent := math.NaN()
	if delivered > 0 {
		perEvent = cpuUs / float64(delivered)
	}
	return metrics{
		"eventsPerSec":  float64(delivered) / seconds,
		"cpuUsPerEvent": perEvent,
		"p50Ms":         quantile(latencies, 0.5),
		"p99Ms":         quantile(latencies, 0.99),
		"peakRssMb":     peakRssMb(),
	}, nil
}

// catchUpWatcher times a watch from the backlog's first revision to its last event, as
// worker.ts's catchUpWatcher does.
func catchUpWatcher(client *clientv3.Client, p params) (metrics, error) {
	if p.StartRevision == 0 || p.Events == 0 {
		return nil, errors.New("catch-up: the orchestrator sets startRevision and events")
	}
	if _, err := client.Get(context.Background(), "warm-up"); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cpuStart := cpuMicros()
	started := time.Now()
	watch := client.Watch(ctx, backlogPrefix, clientv3.WithPrefix(), clientv3.WithRev(p.StartRevision))
	received := 0
	for response := range watch {
		if err := response.Err(); err != nil {
			return nil, fmt.Errorf("catch-up watch: %v", err)
		}
		received += len(response.Events)
		if received >= p.Events {
			break
		}
	}
	seconds := time.Since(started).Seconds()
	cpuUs := cpuMicros() - cpuStart
	if received < p.Events {
		return nil, fmt.Errorf("catch-up watch ended after %d of %d events", received, p.Events)
	}
	return metrics{
		"eventsPerSec":  float64(p.Events) / seconds,
		"catchUpS":      seconds,
		"cpuUsPerEvent": cpuUs / float64(p.Events),
		"peakRssMb":     peakRssMb(),
	}, nil
}

func watchersWorkload(client *clientv3.Client, p params) (metrics, error) {
	keys := keysOf("w/", p.Count)
	if _, err := client.Get(context.Background(), "warm-up"); err != nil {
		return nil, err
	}
	rssBefore, heapBefore, stacksBefore := settle()
	cpuStart := cpuMicros()
	started := time.Now()
	// One context for all: clientv3 puts every watcher of a context on one gRPC stream.
	ctx, cancel := context.WithCancel(context.Background())
	watches := make([]clientv3.WatchChan, len(keys))
	for i, key := range keys {
		watches[i] = client.Watch(ctx, key, clientv3.WithCreatedNotify())
	}
	for _, watch := range watches {
		if created, ok := <-watch; !ok || created.Err() != nil {
			cancel()
			return nil, errors.New("a watcher was not created")
		}
	}
	createS := time.Since(started).Seconds()
	createCpuMs := (cpuMicros() - cpuStart) / 1000
	rssAfter, heapAfter, stacksAfter := settle()
	cancel()
	count := float64(p.Count)
	return metrics{
		"createS":               createS,
		"rssKbPerWatcher":       (rssAfter - rssBefore) / 1024 / count,
		"heapKbPerWatcher":      (heapAfter - heapBefore) / 1024 / count,
		"stacksKbPerWatcher":    (stacksAfter - stacksBefore) / 1024 / count,
		"createCpuMs":           createCpuMs,
		"createCpuUsPerWatcher": createCpuMs * 1000 / count,
		"peakRssMb":             peakRssMb(),
	}, nil
}

// keepLeases grants `count` leases from `grantConcurrency` goroutines and keeps each alive with
// KeepAlive as soon as its grant returns, draining its channel as clientv3's documentation asks;
// returns once every lease is granted and kept, with a wait for every lease's first answer.
func keepLeases(ctx context.Context, client *clientv3.Client, count, grantConcurrency int, ttl int64, answered *int64) (func() error, error) {
	indexes := make(chan int, count)
	for i := 0; i < count; i++ {
		indexes <- i
	}
	close(indexes)
	first := make(chan bool, count)
	errs := make(chan error, grantConcurrency)
	var wg sync.WaitGroup
	for g := 0; g < grantConcurrency && g < count; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range indexes {
				grant, err := client.Grant(ctx, ttl)
				if err != nil {
					errs <- err
					return
				}
				answers, err := client.KeepAlive(ctx, grant.ID)
				if err != nil {
					errs <- err
					return
				}
				go func() {
					seen := false
					for range answers {
						atomic.AddInt64(answered, 1)
						if !seen {
							seen = true
							first <- true
						}
					}
					if !seen {
						first <- false
					}
				}()
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	return func() error {
		for i := 0; i < count; i++ {
			if !<-first {
				return errors.New("a lease was not kept alive")
			}
		}
		return nil
	}, nil
}

// Memory per lease is the marginal cost, as in worker.ts: the growth from half the leases to all.
func leasesWorkload(client *clientv3.Client, p params) (metrics, error) {
	if _, err := client.Get(context.Background(), "warm-up"); err != nil {
		return nil, err
	}
	var answered int64
	half := p.Count / 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := time.Now()
	firstAnswered, err := keepLeases(ctx, client, half, p.GrantConcurrency, p.TTLSeconds, &answered)
	if err != nil {
		return nil, err
	}
	createS := time.Since(started).Seconds()
	if err := firstAnswered(); err != nil {
		return nil, err
	}
	settle()
	time.Sleep(time.Duration(p.BaselineMs) * time.Millisecond)
	rssBefore, heapBefore, stacksBefore := settle()
	started = time.Now()
	secondAnswered, err := keepLeases(ctx, client, p.Count-half, p.GrantConcurrency, p.TTLSeconds, &answered)
	if err != nil {
		return nil, err
	}
	createS += time.Since(started).Seconds()
	if err := secondAnswered(); err != nil {
		return nil, err
	}
	time.Sleep(time.Duration(p.WarmMs) * time.Millisecond)
	settle()
	cpuStart := cpuMicros()
	serverCpuStart := processCpuMicros(p.ServerPid)
	windowStart := time.Now()
	before := atomic.LoadInt64(&answered)
	time.Sleep(time.Duration(p.WindowMs) * time.Millisecond)
	cpuUs := cpuMicros() - cpuStart
	serverCpuUs := processCpuMicros(p.ServerPid) - serverCpuStart
	kept := float64(atomic.LoadInt64(&answered) - before)
	seconds := time.Since(windowStart).Seconds()
	rssAfter, heapAfter, stacksAfter := settle()
	added := float64(p.Count - half)
	per10k, serverPer10k := math.NaN(), math.NaN()
	if kept > 0 {
		per10k = cpuUs / 1000 / kept * 10000
		serverPer10k = serverCpuUs / 1000 / kept * 10000
	}
	return metrics{
		"createS":                   createS,
		"rssKbPerLease":             (rssAfter - rssBefore) / 1024 / added,
		"heapKbPerLease":            (heapAfter - heapBefore) / 1024 / added,
		"stacksKbPerLease":          (stacksAfter - stacksBefore) / 1024 / added,
		"cpuMsPer10kKeepAlives":     per10k,
		"etcdCpuMsPer10kKeepAlives": serverPer10k,
		"keepAlivesPerSec":          kept / seconds,
		"peakRssMb":                 peakRssMb(),
	}, nil
}

func tlsConfig(p params) (*tls.Config, error) {
	if p.TLS == nil {
		return nil, nil
	}
	ca, err := ioutil.ReadFile(p.TLS.CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errors.New("no CA certificate in " + p.TLS.CA)
	}
	config := &tls.Config{RootCAs: pool}
	if p.TLS.Cert != "" {
		pair, err := tls.LoadX509KeyPair(p.TLS.Cert, p.TLS.Key)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return config, nil
}

func run(workload, endpoint string, p params) (metrics, error) {
	tlsConf, err := tlsConfig(p)
	if err != nil {
		return nil, err
	}
	// clientv3 closes a KeepAlive channel whose first answer takes longer than DialTimeout + 1 s.
	// Its first keepalive goes out at once, so 50,000 leases granted in a few seconds queue that
	// many keepalives at etcd, and with 5 s most of them were closed before etcd answered.
	dialTimeout := 5 * time.Second
	if p.Kind == "leases" {
		dialTimeout = 60 * time.Second
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: dialTimeout,
		TLS:         tlsConf,
		// Errors only: the client's warnings would flood stderr under load.
		LogConfig: &zap.Config{
			Level:            zap.NewAtomicLevelAt(zap.ErrorLevel),
			Encoding:         "json",
			OutputPaths:      []string{"stderr"},
			ErrorOutputPaths: []string{"stderr"},
		},
	})
	if err != nil {
		return nil, err
	}
	defer client.Close()
	switch p.Kind {
	case "put", "get-linearizable", "get-serializable", "txn":
		return kvWorkload(client, p)
	case "fan-in":
		return fanInWatcher(client)
	case "catch-up":
		return catchUpWatcher(client, p)
	case "watchers":
		return watchersWorkload(client, p)
	case "leases":
		return leasesWorkload(client, p)
	}
	return nil, fmt.Errorf("workload %s (%s) has no Go implementation", workload, p.Kind)
}

func main() {
	if len(os.Args) < 4 {
		emit(map[string]string{"error": "usage: clientv3-bench <workload> <endpoint> <params JSON>"})
		os.Exit(2)
	}
	go readStdin()
	var p params
	if err := json.Unmarshal([]byte(os.Args[3]), &p); err != nil {
		emit(map[string]string{"error": err.Error()})
		os.Exit(1)
	}
	result, err := run(os.Args[1], os.Args[2], p)
	if err != nil {
		emit(map[string]string{"error": err.Error()})
		os.Exit(1)
	}
	// JSON has no NaN: a figure that could not be taken goes out as null, which worker.ts's
	// readers take as "no figure".
	clean := map[string]interface{}{}
	for name, value := range result {
		if math.IsNaN(value) || math.IsInf(value, 0) {
			clean[name] = nil
		} else {
			clean[name] = value
		}
	}
	emit(map[string]interface{}{"result": clean})
	os.Exit(0)
}
