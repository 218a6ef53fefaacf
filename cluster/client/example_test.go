package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/hearth-profiles/hearth/cluster"
	"github.com/hearth-profiles/hearth/cluster/client"
	"github.com/hearth-profiles/hearth/messages"
	"github.com/hearth-profiles/hearth/messages/hearthv1"
)

// A game server's life with a player's profile over the gateway: start a
// session, change the profile in both lanes, grant a purchase exactly
// once, end the session. Errors are typed: test them with errors.Is.
func Example() {
	ctx := context.Background()
	c := client.New(client.NewGateway(http.DefaultClient, "http://127.0.0.1:8080", "gateway-token"), client.Options{})
	player := &hearthv1.ProfileRef{Namespace: "game", Id: "player-42"}

	s, err := c.Acquire(ctx, &hearthv1.AcquireRequest{Profile: player, SessionId: "eu-west-7:match-1234",
		Mode: hearthv1.AcquireMode_ACQUIRE_MODE_STEAL})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("document", s.GetDocument(), "at version", s.GetVersion())

	// Hot game state: acknowledged from memory, saved by autosave.
	_, err = c.Update(ctx, &hearthv1.UpdateRequest{Profile: player, SessionToken: s.GetSessionToken(),
		Operations: []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_INCREMENT, Path: "/xp", Value: "120"}}})
	if errors.Is(err, messages.ErrStaleSession) {
		return // another server took the player: stop writing
	}

	// A purchase: granted once per receipt, answered after it is durable.
	_, err = c.Purchase(ctx, &hearthv1.PurchaseRequest{Profile: player, ReceiptId: "R-1001", ProductId: "gems_100",
		SessionToken: s.GetSessionToken(),
		Grant:        []*hearthv1.Operation{{Kind: hearthv1.OperationKind_OPERATION_KIND_INCREMENT, Path: "/gems", Value: "100"}}})
	if err != nil {
		log.Fatal(err)
	}

	if _, err := c.Release(ctx, &hearthv1.ReleaseRequest{Profile: player, SessionToken: s.GetSessionToken()}); err != nil {
		log.Fatal(err)
	}
}

// Many players in one request, and one long poll for all their events:
// the shape that keeps a busy server's request rate low.
func ExampleClient_Batch() {
	ctx := context.Background()
	c := client.New(client.NewGateway(http.DefaultClient, "http://127.0.0.1:8080", ""), client.Options{})
	var items []*hearthv1.BatchItem
	var cursors []*hearthv1.EventCursor
	for _, id := range []string{"player-1", "player-2", "player-3"} {
		ref := &hearthv1.ProfileRef{Namespace: "game", Id: id}
		items = append(items, &hearthv1.BatchItem{Request: &hearthv1.BatchItem_Acquire{
			Acquire: &hearthv1.AcquireRequest{Profile: ref, SessionId: "eu-west-7:match-1234"}}})
		cursors = append(cursors, &hearthv1.EventCursor{Profile: ref})
	}
	res, err := c.Batch(ctx, &hearthv1.BatchRequest{Items: items})
	if err != nil {
		log.Fatal(err)
	}
	for i, r := range res.GetResults() {
		if err := messages.Err(r.GetAcquire().GetError()); err != nil {
			fmt.Println("item", i, "failed:", err) // items fail one by one
			continue
		}
		cursors[i].Cursor = r.GetAcquire().GetEventCursor() // follow from the join, no gap
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	events, err := c.PollEvents(pctx, &hearthv1.PollEventsRequest{Cursors: cursors, WaitMs: 20000})
	if err != nil {
		log.Fatal(err)
	}
	for i, p := range events.GetProfiles() {
		for _, ev := range p.GetEvents() {
			fmt.Println(cursors[i].GetProfile().GetId(), ev.GetKind())
		}
		cursors[i].Cursor = p.GetCursor()
	}
}

// The cluster transport: the game server joins through Consul (without
// hosting profiles) and sends each request straight to the owning node.
// Importing package cluster for it links no store or database driver.
func ExampleNew_cluster() {
	ctx := context.Background()
	conn, err := cluster.DialCluster(ctx, cluster.ClientConfig{ConsulAddress: "127.0.0.1:8500", Service: "hearth"})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	c := client.New(conn, client.Options{Timeout: 10 * time.Second})
	_, err = c.Get(ctx, &hearthv1.GetRequest{Profile: &hearthv1.ProfileRef{Namespace: "game", Id: "player-42"}, Path: "/gems"})
	if errors.Is(err, messages.ErrNotFound) {
		fmt.Println("never written")
	}
}
